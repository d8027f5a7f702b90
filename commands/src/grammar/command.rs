//! Commands as the core runs them, whatever platform they came from: what the grammar's table
//! builds, grouped by the service that runs them.

pub use crate::ci_api::CiCommand;
use crate::domain::{preview, EnvName, Ttl};

/// A parsed command, grouped by the service that runs it: the router matches only these
/// families, and each family's enum (matched exhaustively by its service) names its verbs.
/// Privileged commands live in [`AdminCommand`], so the router checks the admin role once, by
/// type, before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The deploy lock and its queue (`deploy.rs`).
    Locks(LockCommand),
    /// Freezes (`freeze.rs`).
    Freezes(FreezeCommand),
    /// Staging claims (`staging.rs`).
    Claims(ClaimCommand),
    /// Reads: status and history (`status.rs`).
    Reads(ReadCommand),
    /// Show help, for everything or one command (the grammar's own).
    Help {
        /// A command name.
        topic: Option<String>,
    },
    /// Commands that need the admin role (`admin/`).
    Admin(AdminCommand),
    /// Requests only the CI API makes; chat text never parses into these.
    Ci(CiCommand),
}

/// The deploy lock's verbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockCommand {
    /// Take the deploy lock.
    Lock {
        /// Which env.
        env: EnvName,
        /// For how long (the env's default when absent).
        ttl: Option<Ttl>,
        /// Why.
        reason: String,
    },
    /// Wait in line for the deploy lock; taken at once when free.
    Queue {
        /// Which env.
        env: EnvName,
        /// How long to hold it once granted.
        ttl: Option<Ttl>,
        /// Why.
        reason: String,
    },
    /// Release your own deploy lock.
    Unlock {
        /// Which env.
        env: EnvName,
    },
    /// Push back the end of your lock or claim.
    Extend {
        /// Which env.
        env: EnvName,
        /// By how much.
        by: Ttl,
    },
    /// Leave an env's queue.
    Leave {
        /// Which env.
        env: EnvName,
    },
    /// Take several envs' deploy locks together: all of them, or none.
    LockSet {
        /// Which envs (two or more).
        envs: Vec<EnvName>,
        /// For how long (the strictest of the envs' defaults when absent).
        ttl: Option<Ttl>,
        /// Why.
        reason: String,
    },
    /// Release your deploy locks on several envs together: all of them, or none.
    UnlockSet {
        /// Which envs (two or more).
        envs: Vec<EnvName>,
    },
    /// Approve someone else's pending lock on an env that needs approval.
    Approve {
        /// Which env.
        env: EnvName,
        /// Which pending request (`None`: the oldest the actor may decide).
        request: Option<String>,
    },
    /// Reject a pending lock (or withdraw your own).
    Reject {
        /// Which env.
        env: EnvName,
        /// Which pending request (`None`: the oldest the actor may decide).
        request: Option<String>,
        /// Why.
        reason: String,
    },
    /// Wait in line for several envs' deploy locks together: handed all of them at once.
    QueueSet {
        /// Which envs (two or more).
        envs: Vec<EnvName>,
        /// For how long, once granted.
        ttl: Option<Ttl>,
        /// Why.
        reason: String,
    },
    /// Leave every line of a set you wait for.
    LeaveSet {
        /// Which envs (two or more).
        envs: Vec<EnvName>,
    },
    /// Push back the end of your locks on several envs together: all of them, or none.
    ExtendSet {
        /// Which envs (two or more).
        envs: Vec<EnvName>,
        /// By how much.
        by: Ttl,
    },
}

/// Freezing and unfreezing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeCommand {
    /// Refuse locks (except to admins) for a while.
    Freeze {
        /// One env or all.
        scope: Scope,
        /// How long.
        span: FreezeSpan,
        /// Why.
        reason: String,
    },
    /// Lift a freeze.
    Unfreeze {
        /// One env or all.
        scope: Scope,
    },
}

/// Staging claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimCommand {
    /// Claim a staging env, or any free member of a pool.
    Claim {
        /// An env or pool.
        target: EnvName,
        /// How many envs of the pool, taken together or not at all (1 unless asked).
        count: usize,
        /// For how long (the default when absent).
        ttl: Option<Ttl>,
        /// What for.
        note: String,
    },
    /// Release your own claim.
    Release {
        /// Which env.
        env: EnvName,
    },
}

/// Reads of the state and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadCommand {
    /// Show every env, one env, or one pool.
    Status {
        /// An env or pool; all when absent.
        target: Option<EnvName>,
    },
    /// Show the scheduled freeze windows on now and in the next days.
    Freezes {
        /// One env; every env when absent.
        target: Option<EnvName>,
    },
    /// Show an env's audit history, newest first.
    History {
        /// Which env.
        env: EnvName,
        /// How many entries.
        count: usize,
    },
}

/// Commands only admins may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCommand {
    /// `unlock <env> --force`: end someone else's lock; they are named in the reply and history.
    ForceUnlock {
        /// Which env.
        env: EnvName,
    },
    /// `release <env> --force`: end someone else's claim.
    ForceRelease {
        /// Which env.
        env: EnvName,
    },
    /// `admin queues [<name>]`: every BullMQ queue's counts, or one queue with its newest failures.
    Queues {
        /// One queue; all when absent.
        queue: Option<AdminArg>,
    },
    /// `admin queue retry|pause|resume <name>`, through BullMQ's own scripts.
    Queue {
        /// What to do.
        action: QueueAction,
        /// Which queue.
        queue: AdminArg,
    },
    /// `admin session <user>`: whether the user has a session, its TTL and a fingerprint.
    Session {
        /// The user id, as the app writes it into the session key.
        user: AdminArg,
    },
    /// `admin kick <user>`: delete the session and announce it.
    Kick {
        /// The user id.
        user: AdminArg,
    },
    /// `admin ratelimit <limiter> <id>`: one identity's counters.
    RateLimit {
        /// A configured limiter.
        limiter: AdminArg,
        /// The identity (user id, email, IP…), taken literally.
        id: AdminArg,
    },
    /// `admin ratelimit reset <limiter> <id>`: delete exactly that identity's keys.
    RateLimitReset {
        /// A configured limiter.
        limiter: AdminArg,
        /// The identity, taken literally (glob characters in it match only themselves).
        id: AdminArg,
    },
    /// `admin leaderboard <board> [top <n>] [around <member>]`.
    Leaderboard {
        /// A configured board.
        board: AdminArg,
        /// How many from the top; with neither option, the top 10.
        top: Option<usize>,
        /// Show the ranks around this member.
        around: Option<AdminArg>,
    },
    /// `admin history [<n>]`: the admin audit stream, newest first.
    History {
        /// How many entries.
        count: usize,
    },
    /// `github approve <env> <run>`: a waiting GitHub run has the lock now.
    GithubApprove {
        /// Which env.
        env: EnvName,
        /// The run: `owner/repo#123`, or its id.
        run: AdminArg,
    },
    /// `github reject <env> <run> [reason]`: a waiting GitHub run leaves the line, rejected.
    GithubReject {
        /// Which env.
        env: EnvName,
        /// The run.
        run: AdminArg,
        /// Why (GitHub shows it on the run).
        reason: String,
    },
    /// `freeze skip <window> [once] [reason]`: end a scheduled freeze window that is on now, or
    /// skip its next occurrence not skipped yet (so twice skips the next two), on every env it
    /// covers.
    SkipWindow {
        /// The window's name (`[[freezes]] name`), checked when it runs.
        window: AdminArg,
        /// Why.
        reason: String,
    },
}

impl AdminCommand {
    /// The command as typed, for logs and refusals (`admin queue retry`, `unlock --force`).
    pub fn verb(&self) -> &'static str {
        match self {
            AdminCommand::ForceUnlock { .. } => "unlock --force",
            AdminCommand::ForceRelease { .. } => "release --force",
            AdminCommand::Queues { .. } => "admin queues",
            AdminCommand::Queue { action, .. } => match action {
                QueueAction::Retry => "admin queue retry",
                QueueAction::Pause => "admin queue pause",
                QueueAction::Resume => "admin queue resume",
            },
            AdminCommand::Session { .. } => "admin session",
            AdminCommand::Kick { .. } => "admin kick",
            AdminCommand::RateLimit { .. } => "admin ratelimit",
            AdminCommand::RateLimitReset { .. } => "admin ratelimit reset",
            AdminCommand::Leaderboard { .. } => "admin leaderboard",
            AdminCommand::History { .. } => "admin history",
            AdminCommand::SkipWindow { .. } => "freeze skip",
            AdminCommand::GithubApprove { .. } => "github approve",
            AdminCommand::GithubReject { .. } => "github reject",
        }
    }

    /// What a refusal to a non-admin names: the `--force` flag, or the admin command.
    pub fn label(&self) -> &'static str {
        match self {
            AdminCommand::ForceUnlock { .. } | AdminCommand::ForceRelease { .. } => "--force",
            other => other.verb(),
        }
    }
}

/// What `admin queue` does to a BullMQ queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueAction {
    /// Move every failed job back to waiting.
    Retry,
    /// Stop workers from taking new jobs.
    Pause,
    /// Let them take jobs again.
    Resume,
}

impl QueueAction {
    /// Every action, in the order `admin queue` offers them.
    pub const ALL: [QueueAction; 3] = [QueueAction::Retry, QueueAction::Pause, QueueAction::Resume];

    /// The action a word names (lowercase, as the grammar hands it over).
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == word)
    }

    /// The word typed.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueAction::Retry => "retry",
            QueueAction::Pause => "pause",
            QueueAction::Resume => "resume",
        }
    }
}

/// Longest argument of an admin command, in characters.
pub const MAX_ADMIN_ARG_LEN: usize = 200;

/// An argument of an admin command: a configured name (queue, limiter, board), checked against the
/// configuration when the command runs, or a value from another service's data (user id, limiter
/// identity, leaderboard member). Any text of 1 to 200 characters without control characters; it
/// reaches Redis only as a literal key part or as an escaped SCAN pattern, never as an env name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AdminArg(String);

impl AdminArg {
    /// Checks `raw` and says in one sentence what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 {
            return Err("an admin argument cannot be empty".into());
        }
        if count > MAX_ADMIN_ARG_LEN {
            return Err(format!(
                "`{}` is too long ({count} characters; at most {MAX_ADMIN_ARG_LEN})",
                preview(raw)
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(format!("`{}` contains control characters", preview(raw)));
        }
        Ok(Self(raw.to_string()))
    }

    /// The argument as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AdminArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which envs a command changes, so a caller scoped to some envs can be checked before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touches<'a> {
    /// Nothing: a read or help.
    Nothing,
    /// One env or pool, by the name given.
    One(&'a EnvName),
    /// Several envs together.
    Several(&'a [EnvName]),
    /// Every env.
    All,
}

impl Command {
    /// The env (or pool) this command changes, if any.
    pub fn touches(&self) -> Touches<'_> {
        match self {
            Command::Reads(_) | Command::Help { .. } => Touches::Nothing,
            Command::Locks(
                LockCommand::Lock { env, .. }
                | LockCommand::Queue { env, .. }
                | LockCommand::Unlock { env }
                | LockCommand::Extend { env, .. }
                | LockCommand::Leave { env }
                | LockCommand::Approve { env, .. }
                | LockCommand::Reject { env, .. },
            )
            | Command::Claims(
                ClaimCommand::Release { env } | ClaimCommand::Claim { target: env, .. },
            )
            | Command::Admin(
                AdminCommand::ForceUnlock { env }
                | AdminCommand::ForceRelease { env }
                | AdminCommand::GithubApprove { env, .. }
                | AdminCommand::GithubReject { env, .. },
            ) => Touches::One(env),
            Command::Locks(
                LockCommand::LockSet { envs, .. }
                | LockCommand::UnlockSet { envs }
                | LockCommand::QueueSet { envs, .. }
                | LockCommand::LeaveSet { envs }
                | LockCommand::ExtendSet { envs, .. },
            ) => Touches::Several(envs),
            // A window covers envs by the calendar: every env, as far as a scoped caller knows.
            Command::Admin(AdminCommand::SkipWindow { .. }) => Touches::All,
            // The other admin commands touch no env: other services' keys, behind the admin role.
            Command::Admin(
                AdminCommand::Queues { .. }
                | AdminCommand::Queue { .. }
                | AdminCommand::Session { .. }
                | AdminCommand::Kick { .. }
                | AdminCommand::RateLimit { .. }
                | AdminCommand::RateLimitReset { .. }
                | AdminCommand::Leaderboard { .. }
                | AdminCommand::History { .. },
            ) => Touches::Nothing,
            Command::Freezes(
                FreezeCommand::Freeze { scope, .. } | FreezeCommand::Unfreeze { scope },
            ) => match scope {
                Scope::Env(env) => Touches::One(env),
                Scope::All => Touches::All,
            },

            Command::Ci(ci) => match ci.changes_set() {
                Some(envs) => Touches::Several(envs),
                None => ci.changes().map_or(Touches::Nothing, Touches::One),
            },
        }
    }

    /// The envs or pool this command takes (a lock, a place in the queue, a claim): taking a
    /// protected one needs a deployer whatever the road (chat, buttons, the CI API, GitHub).
    /// Every variant is named here, with no catch-all arm: a new command that takes an env
    /// cannot compile until it says so.
    pub fn takes(&self) -> Vec<&EnvName> {
        match self {
            Command::Locks(LockCommand::Lock { env, .. } | LockCommand::Queue { env, .. })
            | Command::Claims(ClaimCommand::Claim { target: env, .. }) => vec![env],
            Command::Locks(
                LockCommand::LockSet { envs, .. } | LockCommand::QueueSet { envs, .. },
            ) => envs.iter().collect(),
            Command::Locks(
                LockCommand::Unlock { .. }
                | LockCommand::Extend { .. }
                | LockCommand::Leave { .. }
                | LockCommand::UnlockSet { .. }
                | LockCommand::LeaveSet { .. }
                | LockCommand::Approve { .. }
                | LockCommand::Reject { .. }
                | LockCommand::ExtendSet { .. },
            )
            | Command::Claims(ClaimCommand::Release { .. }) => Vec::new(),
            Command::Ci(ci) => ci.takes(),
            // Freezing needs a deployer by its grammar entry; it takes no lock.
            Command::Freezes(FreezeCommand::Freeze { .. } | FreezeCommand::Unfreeze { .. }) => {
                Vec::new()
            }
            Command::Reads(
                ReadCommand::Status { .. }
                | ReadCommand::Freezes { .. }
                | ReadCommand::History { .. },
            )
            | Command::Help { .. } => Vec::new(),
            // Admin commands need the admin role, which covers every protected env.
            Command::Admin(
                AdminCommand::ForceUnlock { .. }
                | AdminCommand::ForceRelease { .. }
                | AdminCommand::Queues { .. }
                | AdminCommand::Queue { .. }
                | AdminCommand::Session { .. }
                | AdminCommand::Kick { .. }
                | AdminCommand::RateLimit { .. }
                | AdminCommand::RateLimitReset { .. }
                | AdminCommand::Leaderboard { .. }
                | AdminCommand::History { .. }
                | AdminCommand::GithubApprove { .. }
                | AdminCommand::GithubReject { .. }
                | AdminCommand::SkipWindow { .. },
            ) => Vec::new(),
        }
    }
}

/// What a freeze applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One env, or every member of a pool.
    Env(EnvName),
    /// Every configured env.
    All,
}

/// How long a freeze lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeSpan {
    /// Until someone unfreezes.
    UntilLifted,
    /// For a duration from now.
    For(Ttl),
    /// Until a moment, as typed (a date or weekday, a time, a zone): resolved when it runs.
    Until(super::until::Until),
}

/// The role a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    /// Anyone the platform let through.
    Anyone,
    /// A deployer or admin.
    Deployer,
    /// An admin.
    Admin,
}

impl Privilege {
    /// The role's name, as refusals and `[roles]` in the config spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Anyone => "anyone",
            Privilege::Deployer => "deployer",
            Privilege::Admin => "admin",
        }
    }
}
