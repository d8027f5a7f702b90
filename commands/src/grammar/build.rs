//! How each verb's arguments become its typed [`Command`]: one builder per entry of
//! [`VERBS`](super::VERBS), named after its verb, so a verb's text and its command are defined
//! side by side and no `match` on verb names can fall through to the wrong command.
//!
//! A builder runs only after `parse` has read every required parameter, so its `?` never fires for
//! chat text; it exists so that a table entry whose parameters do not fit its builder is refused in
//! words (and caught by the grammar tests) instead of running with a made-up value.

use crate::command::{
    AdminArg, AdminCommand, ClaimCommand, Command, FreezeCommand, FreezeSpan, LockCommand,
    QueueAction, ReadCommand, Scope,
};
use crate::domain::{EnvName, Ttl};

/// What a builder returns: the command, or the (table) mistake in words.
pub(super) type Built = Result<Command, String>;

/// The values `parse` read for a verb's parameters, by kind, in the order of the verb's spec.
#[derive(Debug, Default)]
pub(super) struct Args {
    /// Env or pool names (`Env`, `Target`, `Scope`); every verb takes at most one.
    pub(super) names: Vec<EnvName>,
    /// `all` given for a `Scope`.
    pub(super) all: bool,
    /// A `Duration`.
    pub(super) ttl: Option<Ttl>,
    /// A `Span`.
    pub(super) span: Option<FreezeSpan>,
    /// The rest of the line (`Text`), cleaned; empty when absent.
    pub(super) text: String,
    /// A `Count`.
    pub(super) count: Option<usize>,
    /// A `Topic`: a verb name, or the word typed.
    pub(super) topic: Option<String>,
    /// Whether the verb's `Flag` was given.
    pub(super) flag: bool,
    /// Admin names and values (`Name`, `Value`), in order.
    pub(super) values: Vec<AdminArg>,
    /// The word chosen for a `Choice`.
    pub(super) choice: Option<&'static str>,
    /// `top <n>`.
    pub(super) top: Option<usize>,
    /// `around <member>`.
    pub(super) around: Option<AdminArg>,
}

/// `history` and `admin history` show this many entries unless told otherwise.
const DEFAULT_COUNT: usize = 10;

impl Args {
    fn env(&self) -> Result<EnvName, String> {
        self.names
            .first()
            .cloned()
            .ok_or_else(|| "this command needs an env".to_string())
    }

    fn scope(&self) -> Result<Scope, String> {
        if self.all {
            Ok(Scope::All)
        } else {
            self.env().map(Scope::Env)
        }
    }

    fn value(&self, i: usize) -> Result<AdminArg, String> {
        self.values
            .get(i)
            .cloned()
            .ok_or_else(|| "this admin command needs another value".to_string())
    }

    fn ttl(&self) -> Result<Ttl, String> {
        self.ttl
            .ok_or_else(|| "this command needs a duration".to_string())
    }
}

/// One env, or several together (`lock prod-eu,prod-us`).
pub(super) fn lock(a: Args) -> Built {
    if a.names.len() > 1 {
        return Ok(Command::Locks(LockCommand::LockSet {
            envs: a.names,
            ttl: a.ttl,
            reason: a.text,
        }));
    }
    Ok(Command::Locks(LockCommand::Lock {
        env: a.env()?,
        ttl: a.ttl,
        reason: a.text,
    }))
}

pub(super) fn queue(a: Args) -> Built {
    if a.names.len() > 1 {
        return Ok(Command::Locks(LockCommand::QueueSet {
            envs: a.names,
            ttl: a.ttl,
            reason: a.text,
        }));
    }
    Ok(Command::Locks(LockCommand::Queue {
        env: a.env()?,
        ttl: a.ttl,
        reason: a.text,
    }))
}

/// `--force` makes it an admin command by type, so the router checks the admin role.
pub(super) fn unlock(a: Args) -> Built {
    if a.names.len() > 1 {
        if a.flag {
            return Err("`unlock --force` takes one env at a time".into());
        }
        return Ok(Command::Locks(LockCommand::UnlockSet { envs: a.names }));
    }
    let env = a.env()?;
    Ok(if a.flag {
        Command::Admin(AdminCommand::ForceUnlock { env })
    } else {
        Command::Locks(LockCommand::Unlock { env })
    })
}

pub(super) fn extend(a: Args) -> Built {
    if a.names.len() > 1 {
        let by = a.ttl()?;
        return Ok(Command::Locks(LockCommand::ExtendSet { envs: a.names, by }));
    }
    Ok(Command::Locks(LockCommand::Extend {
        env: a.env()?,
        by: a.ttl()?,
    }))
}

/// `#<id>` first in the text names a pending request; the rest is the reason.
fn request_and_reason(text: &str) -> (Option<String>, String) {
    match text.strip_prefix('#') {
        Some(rest) => {
            let (id, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            (Some(id.to_string()), reason.trim().to_string())
        }
        None => (None, text.to_string()),
    }
}

pub(super) fn approve(a: Args) -> Built {
    let (request, rest) = request_and_reason(&a.text);
    if !rest.is_empty() {
        return Err(format!(
            "`approve` takes an env and, optionally, a request (`#3f9a1c`), not `{rest}`"
        ));
    }
    Ok(Command::Locks(LockCommand::Approve {
        env: a.env()?,
        request,
    }))
}

pub(super) fn reject(a: Args) -> Built {
    let (request, reason) = request_and_reason(&a.text);
    Ok(Command::Locks(LockCommand::Reject {
        env: a.env()?,
        request,
        reason,
    }))
}

pub(super) fn leave(a: Args) -> Built {
    if a.names.len() > 1 {
        return Ok(Command::Locks(LockCommand::LeaveSet { envs: a.names }));
    }
    Ok(Command::Locks(LockCommand::Leave { env: a.env()? }))
}

pub(super) fn status(a: Args) -> Built {
    Ok(Command::Reads(ReadCommand::Status {
        target: a.names.into_iter().next(),
    }))
}

pub(super) fn claim(a: Args) -> Built {
    Ok(Command::Claims(ClaimCommand::Claim {
        target: a.env()?,
        count: a.count.unwrap_or(1),
        ttl: a.ttl,
        note: a.text,
    }))
}

/// `--force` makes it an admin command by type, as for `unlock`.
pub(super) fn release(a: Args) -> Built {
    let env = a.env()?;
    Ok(if a.flag {
        Command::Admin(AdminCommand::ForceRelease { env })
    } else {
        Command::Claims(ClaimCommand::Release { env })
    })
}

pub(super) fn history(a: Args) -> Built {
    Ok(Command::Reads(ReadCommand::History {
        env: a.env()?,
        count: a.count.unwrap_or(DEFAULT_COUNT),
    }))
}

pub(super) fn freeze(a: Args) -> Built {
    Ok(Command::Freezes(FreezeCommand::Freeze {
        scope: a.scope()?,
        span: a.span.unwrap_or(FreezeSpan::UntilLifted),
        reason: a.text,
    }))
}

pub(super) fn unfreeze(a: Args) -> Built {
    Ok(Command::Freezes(FreezeCommand::Unfreeze {
        scope: a.scope()?,
    }))
}

/// `freeze skip <window> [once] [reason]`: `once` (the only way it skips) may be said.
pub(super) fn freeze_skip(a: Args) -> Built {
    let reason = match a.text.split_once(' ') {
        _ if a.text.eq_ignore_ascii_case("once") => String::new(),
        Some((first, rest)) if first.eq_ignore_ascii_case("once") => rest.to_string(),
        _ => a.text.clone(),
    };
    Ok(Command::Admin(AdminCommand::SkipWindow {
        window: a.value(0)?,
        reason,
    }))
}

pub(super) fn github_approve(a: Args) -> Built {
    Ok(Command::Admin(AdminCommand::GithubApprove {
        env: a.env()?,
        run: a.value(0)?,
    }))
}

pub(super) fn github_reject(a: Args) -> Built {
    Ok(Command::Admin(AdminCommand::GithubReject {
        env: a.env()?,
        run: a.value(0)?,
        reason: a.text,
    }))
}

pub(super) fn freezes(a: Args) -> Built {
    Ok(Command::Reads(ReadCommand::Freezes {
        target: a.names.into_iter().next(),
    }))
}

pub(super) fn help(a: Args) -> Built {
    Ok(Command::Help { topic: a.topic })
}

pub(super) fn admin_queues(a: Args) -> Built {
    let queue = a.values.into_iter().next();
    Ok(Command::Admin(AdminCommand::Queues { queue }))
}

pub(super) fn admin_queue(a: Args) -> Built {
    let action = a
        .choice
        .and_then(QueueAction::from_word)
        .ok_or_else(|| "`admin queue` needs retry, pause or resume".to_string())?;
    Ok(Command::Admin(AdminCommand::Queue {
        action,
        queue: a.value(0)?,
    }))
}

pub(super) fn admin_session(a: Args) -> Built {
    let user = a.value(0)?;
    Ok(Command::Admin(AdminCommand::Session { user }))
}

pub(super) fn admin_kick(a: Args) -> Built {
    let user = a.value(0)?;
    Ok(Command::Admin(AdminCommand::Kick { user }))
}

pub(super) fn admin_ratelimit(a: Args) -> Built {
    Ok(Command::Admin(AdminCommand::RateLimit {
        limiter: a.value(0)?,
        id: a.value(1)?,
    }))
}

pub(super) fn admin_ratelimit_reset(a: Args) -> Built {
    Ok(Command::Admin(AdminCommand::RateLimitReset {
        limiter: a.value(0)?,
        id: a.value(1)?,
    }))
}

pub(super) fn admin_leaderboard(a: Args) -> Built {
    Ok(Command::Admin(AdminCommand::Leaderboard {
        board: a.value(0)?,
        top: a.top,
        around: a.around,
    }))
}

pub(super) fn admin_history(a: Args) -> Built {
    let count = a.count.unwrap_or(DEFAULT_COUNT);
    Ok(Command::Admin(AdminCommand::History { count }))
}
