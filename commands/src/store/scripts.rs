//! The Lua scripts. Each state-changing one is the shared prelude (settle expiries, hand off,
//! audit, publish) followed by the command's own step, so a command is one EVALSHA.
//!
//! Every script opens with a Redis 7 `#!lua` shebang. Without `allow-oom`, Redis refuses a
//! writing script before it runs when it is over `maxmemory`, so a full Redis answers "full"
//! instead of taking the script's first write and then the rest. Read-only scripts say
//! `no-writes`, so they still answer (and may run on replicas).

use std::sync::LazyLock;

use redis::Script;

macro_rules! scripts {
    ($( $(#[$doc:meta])* $name:ident = $kind:ident $($file:literal)+; )*) => {
        $(
            $(#[$doc])*
            pub static $name: LazyLock<Script> = LazyLock::new(|| Script::new(scripts!(@source $kind $($file)+)));
        )*
        /// Every script's source, for loading them all in one pipeline (start-up, after NOSCRIPT).
        pub fn sources() -> Vec<&'static str> {
            vec![$(scripts!(@source $kind $($file)+)),*]
        }
    };
    // A state change: the prelude, then the step as a function the prelude's `idempotent` runs.
    (@source change $($file:literal)+) => {
        concat!(
            "#!lua\n",
            include_str!("lua/prelude.lua"),
            "local function step()\n",
            $(include_str!($file),)+
            "\nend\nreturn idempotent(step)\n"
        )
    };
    // A standalone script that only reads.
    (@source read $($file:literal)+) => {
        concat!("#!lua flags=no-writes\n", $(include_str!($file)),+)
    };
    // A standalone script that writes.
    (@source write $($file:literal)+) => {
        concat!("#!lua\n", $(include_str!($file)),+)
    };
}

scripts! {
    /// `lock` and `queue`.
    LOCK = change "lua/lock.lua";
    /// `unlock` and `release`.
    UNLOCK = change "lua/unlock.lua";
    /// `extend`.
    EXTEND = change "lua/extend.lua";
    /// `leave`, and an admin taking a waiter out of line.
    LEAVE = change "lua/leave.lua";
    /// An admin lets a waiter have the lock now (`github approve`).
    PROMOTE = change "lua/promote.lua";
    /// A waiting CI request checks in: is the lock its own yet; renew its place in line.
    RENEW = change "lua/renew.lua";
    /// A waiting CI request's wait ran out: take the lock if free, else leave the queue.
    GIVE_UP = change "lua/give_up.lua";
    /// `claim`, of one env or of any free member of a pool.
    CLAIM = change "lua/claim.lua";
    /// `freeze` and `unfreeze`.
    FREEZE = change "lua/freeze.lua";
    /// `freeze skip`: skip a scheduled window's occurrence, or end the one on now.
    WINDOW_SKIP = change "lua/window.lua";
    /// The calendar's notice before a window starts, once per env and occurrence.
    WINDOW_NOTICE = change "lua/notice.lua";
    /// Recording a deploy.
    DEPLOY = change "lua/deploy.lua";
    /// Settling due deadlines, and `status`.
    SETTLE = change "lua/settle.lua";
    /// Which deadlines of a group are due (the readiness probe).
    DUE = read "lua/due.lua";
    /// `admin session`: existence, TTL, idle time and a fingerprint; the value never leaves Redis.
    ADMIN_SESSION = read "../admin/lua/session.lua" "../admin/lua/session_read.lua";
    /// `admin kick`: delete a session and announce it, atomically.
    ADMIN_KICK = write "../admin/lua/session.lua" "../admin/lua/session_kick.lua";
    /// `admin leaderboard … around`: a member's rank and neighbours in one call.
    ADMIN_AROUND = read "../admin/lua/leaderboard_around.lua";
}
