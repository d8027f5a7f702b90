//! What the answers of the scripts that take, end or extend a hold (lock, give up, unlock,
//! extend) mean, written once for every front end: a chat command, a CI request and a GitHub run
//! go through the same mapping, so a refusal reads and classifies the same wherever it came from.
//! Every other script's answer is read in exactly one place, the handler that calls it (a
//! waiter's check-in in `ci/wait.rs`, a claim in `claims.rs`, a freeze in `freeze.rs`, …).

use std::time::Duration;

use crate::domain::human_duration;
use crate::error::{BatonError, HoldKind};
use crate::state::{Freeze, Hold};
use crate::store::contracts::{ExtendAnswer, GiveUpAnswer, LockAnswer, UnlockAnswer};

/// What asking for a lock came to.
pub(crate) enum Acquired {
    /// Granted now. `over_freeze` is set when an admin took it over a freeze; `claim` is someone's
    /// staging claim on the same env (a heads-up, not a conflict).
    Granted {
        now: u64,
        hold: Hold,
        token: String,
        over_freeze: Option<Freeze>,
        claim: Option<Hold>,
    },
    /// The caller holds it already: a retried request learns its lock, a person is told so.
    Mine { now: u64, hold: Hold, token: String },
    /// In line (`again`: it already was).
    Queued {
        now: u64,
        position: usize,
        lock: Option<Hold>,
        freeze: Option<Freeze>,
        again: bool,
    },
}

/// Reads `lock.lua`'s answer for `env`: the grant or place in line, or the refusal.
pub(crate) fn acquired(env: &str, a: LockAnswer) -> Result<Acquired, BatonError> {
    match a {
        LockAnswer::Ok {
            now,
            lock,
            token,
            claim,
            freeze,
        } => Ok(Acquired::Granted {
            now,
            claim: claim.filter(|c| c.holder != lock.holder),
            hold: lock,
            token,
            over_freeze: freeze,
        }),
        LockAnswer::Already { now, lock, token } => Ok(Acquired::Mine {
            now,
            hold: lock,
            token,
        }),
        LockAnswer::AlreadyQueued {
            now,
            position,
            lock,
            freeze,
        } => Ok(Acquired::Queued {
            now,
            position,
            lock,
            freeze,
            again: true,
        }),
        LockAnswer::Queued {
            now,
            position,
            lock,
            freeze,
        } => Ok(Acquired::Queued {
            now,
            position,
            lock,
            freeze,
            again: false,
        }),
        LockAnswer::Locked {
            now,
            lock,
            queued,
            freeze,
        } => Err(held(env, lock, queued, now, freeze)),
        LockAnswer::Frozen { now, freeze } => Err(frozen(env, freeze, now)),
        LockAnswer::Reserved { first, set } => Err(BatonError::Reserved {
            env: env.into(),
            first,
            set,
        }),
        LockAnswer::Ended { how, granted, .. } => Err(BatonError::LockEnded {
            env: env.into(),
            fence: granted.fence,
            released: how == "released",
        }),
        LockAnswer::QueueFull { limit, .. } => Err(BatonError::Refused(format!(
            "the queue for {env} is full ({limit} waiting); try again later"
        ))),
    }
}

/// Reads `give_up.lua`'s answer: the lock after all, or why not.
pub(crate) fn gave_up(env: &str, a: GiveUpAnswer) -> Result<(u64, Hold, String), BatonError> {
    match a {
        GiveUpAnswer::Ok { now, lock, token } => Ok((now, lock, token)),
        GiveUpAnswer::Locked { now, lock, queued } => Err(held(env, lock, queued, now, None)),
        GiveUpAnswer::Frozen { now, freeze } => Err(frozen(env, freeze, now)),
        GiveUpAnswer::Reserved { first, set } => Err(BatonError::Reserved {
            env: env.into(),
            first,
            set,
        }),
        GiveUpAnswer::Superseded {} => Err(BatonError::Superseded { env: env.into() }),
    }
}

/// An ended hold: what it was, and who holds the lock next.
pub(crate) struct Ended {
    pub now: u64,
    pub was: Hold,
    pub next: Option<Hold>,
}

/// Reads `unlock.lua`'s answer. `hint` says what to add when nothing of `kind` is held but the
/// caller holds the other kind.
pub(crate) fn ended(
    env: &str,
    kind: HoldKind,
    a: UnlockAnswer,
    hint: impl FnOnce(bool) -> String,
) -> Result<Ended, BatonError> {
    match a {
        UnlockAnswer::Ok { now, held, next } => Ok(Ended {
            now,
            was: held,
            next,
        }),
        UnlockAnswer::NotHeld { other_is_mine, .. } => Err(BatonError::NotHeld {
            env: env.into(),
            kind,
            hint: hint(other_is_mine),
        }),
        UnlockAnswer::NotHolder { held, .. } => Err(BatonError::NotHolder {
            env: env.into(),
            kind,
            hold: Box::new(held),
        }),
    }
}

/// Reads `extend.lua`'s answer: the moved hold and its kind, or why not. `hint` follows "not held".
pub(crate) fn extended(
    env: &str,
    a: ExtendAnswer,
    hint: String,
) -> Result<(u64, HoldKind, Hold), BatonError> {
    match a {
        ExtendAnswer::Ok { now, kind, held } => Ok((now, kind, held)),
        ExtendAnswer::TooLong { max, room, .. } => {
            let max = human_duration(Duration::from_millis(max));
            let message = if room < 1000 {
                format!(
                    "{env} can be held at most {max} from now, and yours already runs that long"
                )
            } else {
                format!(
                    "{env} can be held at most {max} from now; you can extend by up to {}",
                    human_duration(Duration::from_millis(room))
                )
            };
            // The request was well-formed; the hold as it stands refuses it (409, not 400).
            Err(BatonError::Refused(message))
        }
        ExtendAnswer::NotHolder { kind, held, .. } => Err(BatonError::NotHolder {
            env: env.into(),
            kind,
            hold: Box::new(held),
        }),
        ExtendAnswer::NotHeld { kind, .. } => Err(BatonError::NotHeld {
            env: env.into(),
            kind,
            hint,
        }),
    }
}

/// Someone else holds `env`'s lock.
pub(crate) fn held(
    env: &str,
    hold: Hold,
    queue: usize,
    now: u64,
    frozen: Option<Freeze>,
) -> BatonError {
    BatonError::Held {
        env: env.into(),
        kind: HoldKind::Lock,
        hold: Box::new(hold),
        queue,
        now,
        frozen: frozen.map(Box::new),
    }
}

/// `env` is frozen.
pub(crate) fn frozen(env: &str, freeze: Freeze, now: u64) -> BatonError {
    BatonError::Frozen {
        env: env.into(),
        freeze: Box::new(freeze),
        now,
    }
}
