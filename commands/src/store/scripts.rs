//! The Lua code. Baton's own steps are one Redis function library: the shared prelude (settle
//! expiries, hand off, audit, publish) is defined once, when the library is loaded, and each step
//! is a function registered in it, so a state change is one `FCALL` that runs only its own work.
//! The admin commands' scripts, which read other applications' keys, stay `EVALSHA` scripts.
//!
//! The library's name, and every function's, carries a hash of its code: two Baton versions on
//! one Redis (a rolling upgrade) each call their own code, and loading is idempotent.
//!
//! A function that may write is refused by Redis before it runs when Redis is over `maxmemory`
//! (it is not declared `allow-oom`), so a full Redis answers "full" instead of taking the first
//! write and then the rest. The admin scripts open with a Redis 7 `#!lua` shebang to the same
//! effect; read-only ones say `no-writes`, so they still answer (and may run on replicas).

use std::sync::LazyLock;

use redis::Script;

/// A function of Baton's library; [`Function::name`] is what `FCALL` calls.
#[derive(Clone, Copy, Debug)]
pub struct Function(Id);

impl Function {
    /// The registered name: `baton_<code hash>_<step>`.
    pub fn name(&self) -> &'static str {
        &LIBRARY.names[self.0 as usize]
    }
}

/// The library as loaded: its source (for `FUNCTION LOAD`) and each function's registered name.
pub struct Library {
    /// `baton_<hash>`.
    pub name: String,
    /// `#!lua name=baton_<hash>` and the code.
    pub source: String,
    names: Vec<String>,
}

/// Baton's function library.
pub static LIBRARY: LazyLock<Library> = LazyLock::new(|| {
    let mut code = String::from(include_str!("lua/prelude.lua"));
    for (step, kind, source) in STEPS {
        let register = match kind {
            Kind::Change => "change",
            Kind::Look => "look",
            Kind::Probe => "probe",
        };
        code.push_str(&format!(
            "\n{register}('@LIB@_{step}', function()\n{source}\nend)\n"
        ));
    }
    let lib = format!(
        "baton_{}",
        &crate::hashing::sha256_hex(code.as_bytes())[..16]
    );
    Library {
        source: format!("#!lua name={lib}\n{}", code.replace("@LIB@", &lib)),
        name: lib.clone(),
        names: STEPS
            .iter()
            .map(|(step, _, _)| format!("{lib}_{step}"))
            .collect(),
    }
});

enum Kind {
    /// A state change: `begin`, then the step under `idempotent` (see prelude.lua).
    Change,
    /// Reads only (`no-writes`), of the envs named like a change's (`begin`, no idempotency).
    Look,
    /// Reads only, but not declared so: refused when Redis is full, as a write would be.
    Probe,
}

macro_rules! library {
    ($( $(#[$doc:meta])* $name:ident = $kind:ident $step:literal $file:literal; )*) => {
        #[derive(Clone, Copy, Debug)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Id { $($name),* }
        $(
            $(#[$doc])*
            pub static $name: Function = Function(Id::$name);
        )*
        const STEPS: &[(&str, Kind, &str)] = &[$(($step, Kind::$kind, include_str!($file))),*];
    };
}

library! {
    /// `lock` and `queue`.
    LOCK = Change "lock" "lua/lock.lua";
    /// `unlock` and `release`.
    UNLOCK = Change "unlock" "lua/unlock.lua";
    /// `lock a,b`: several envs' locks together, all or none.
    LOCK_SET = Change "lock_set" "lua/lock_set.lua";
    /// `unlock a,b`: several envs' locks released together, all or none.
    UNLOCK_SET = Change "unlock_set" "lua/unlock_set.lua";
    /// `extend a,b`: several envs' locks extended together, all or none.
    EXTEND_SET = Change "extend_set" "lua/extend_set.lua";
    /// A set waiter checks in (renew, for a set).
    RENEW_SET = Change "renew_set" "lua/renew_set.lua";
    /// A set waiter's wait ran out (give_up, for a set).
    GIVE_UP_SET = Change "give_up_set" "lua/give_up_set.lua";
    /// `leave a,b`: a set waiter leaves every line of its set.
    LEAVE_SET = Change "leave_set" "lua/leave_set.lua";
    /// The two-person rule: a lock asked for, approved, rejected, or looked up.
    APPROVAL = Change "approval" "lua/approval.lua";
    /// `extend`.
    EXTEND = Change "extend" "lua/extend.lua";
    /// `leave`, and an admin taking a waiter out of line.
    LEAVE = Change "leave" "lua/leave.lua";
    /// An admin lets a waiter have the lock now (`github approve`).
    PROMOTE = Change "promote" "lua/promote.lua";
    /// A waiting CI request checks in: is the lock its own yet; renew its place in line.
    RENEW = Change "renew" "lua/renew.lua";
    /// A waiting CI request's wait ran out: take the lock if free, else leave the queue.
    GIVE_UP = Change "give_up" "lua/give_up.lua";
    /// `claim`, of one env or of any free member of a pool.
    CLAIM = Change "claim" "lua/claim.lua";
    /// `freeze` and `unfreeze`.
    FREEZE = Change "freeze" "lua/freeze.lua";
    /// `freeze skip`: skip a scheduled window's occurrence, or end the one on now.
    WINDOW_SKIP = Change "window_skip" "lua/window.lua";
    /// The calendar's notice before a window starts, once per env and occurrence.
    WINDOW_NOTICE = Change "window_notice" "lua/notice.lua";
    /// Recording a deploy.
    DEPLOY = Change "deploy" "lua/deploy.lua";
    /// Settling due deadlines, and `status`.
    SETTLE = Change "settle" "lua/settle.lua";
    /// Moves an env's queue from an earlier version's layout (start-up, once).
    MIGRATE_QUEUE = Change "migrate_queue" "lua/migrate.lua";
    /// What `settle` reports, written nowhere: `status` and the gate while Redis is full.
    LOOK = Look "look" "lua/look.lua";
    /// Which deadlines of a group are due (the readiness probe: refused when Redis is full).
    DUE = Probe "due" "lua/due.lua";
}

macro_rules! scripts {
    ($( $(#[$doc:meta])* $name:ident = $kind:ident $($file:literal)+; )*) => {
        $(
            $(#[$doc])*
            pub static $name: LazyLock<Script> = LazyLock::new(|| Script::new(scripts!(@source $kind $($file)+)));
        )*
        /// Every admin script's source, for loading them all in one pipeline (start-up, after
        /// NOSCRIPT).
        pub fn admin_sources() -> Vec<&'static str> {
            vec![$(scripts!(@source $kind $($file)+)),*]
        }
    };
    (@source read $($file:literal)+) => {
        concat!("#!lua flags=no-writes\n", $(include_str!($file)),+)
    };
    (@source write $($file:literal)+) => {
        concat!("#!lua\n", $(include_str!($file)),+)
    };
}

scripts! {
    /// `admin session`: existence, TTL, idle time and a fingerprint; the value never leaves Redis.
    ADMIN_SESSION = read "../admin/lua/session.lua" "../admin/lua/session_read.lua";
    /// `admin kick`: delete a session and announce it, atomically.
    ADMIN_KICK = write "../admin/lua/session.lua" "../admin/lua/session_kick.lua";
    /// `admin leaderboard … around`: a member's rank and neighbours in one call.
    ADMIN_AROUND = read "../admin/lua/leaderboard_around.lua";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_registered_under_the_name_it_is_called_by() {
        let lib = &LIBRARY.source;
        let (first, code) = lib.split_once('\n').unwrap();
        let name = first.strip_prefix("#!lua name=").unwrap();
        assert_eq!(name, LIBRARY.name);
        assert!(name.starts_with("baton_") && name.len() == "baton_".len() + 16);
        assert!(!code.contains("@LIB@"));
        for f in [&LOCK, &UNLOCK, &SETTLE, &LOOK, &DUE] {
            assert!(f.name().starts_with(name));
            assert!(code.contains(&format!("'{}'", f.name())), "{}", f.name());
        }
    }
}
