//! The Lua scripts. Each state-changing one is the shared prelude (settle expiries, hand off,
//! audit, publish) followed by the command's own step, so a command is one EVALSHA.

use std::sync::LazyLock;

use redis::Script;

macro_rules! scripts {
    ($( $(#[$doc:meta])* $name:ident = $($file:literal)+; )*) => {
        $(
            $(#[$doc])*
            pub static $name: LazyLock<Script> = LazyLock::new(|| Script::new(concat!($(include_str!($file)),+)));
        )*
        /// Every script's source, for loading them all in one pipeline (start-up, after NOSCRIPT).
        pub fn sources() -> Vec<&'static str> {
            vec![$(concat!($(include_str!($file)),+)),*]
        }
    };
}

scripts! {
    /// `lock` and `queue`.
    LOCK = "lua/prelude.lua" "lua/lock.lua";
    /// `unlock` and `release`.
    UNLOCK = "lua/prelude.lua" "lua/unlock.lua";
    /// `extend`.
    EXTEND = "lua/prelude.lua" "lua/extend.lua";
    /// `leave`.
    LEAVE = "lua/prelude.lua" "lua/leave.lua";
    /// `claim`, of one env or of any free member of a pool.
    CLAIM = "lua/prelude.lua" "lua/claim.lua";
    /// `freeze` and `unfreeze`.
    FREEZE = "lua/prelude.lua" "lua/freeze.lua";
    /// Recording a deploy.
    DEPLOY = "lua/prelude.lua" "lua/deploy.lua";
    /// Settling due deadlines, and `status`.
    SETTLE = "lua/prelude.lua" "lua/settle.lua";
    /// Which deadlines of a group are due.
    DUE = "lua/due.lua";
    /// `admin session`: existence, TTL, idle time and a fingerprint; the value never leaves Redis.
    ADMIN_SESSION = "../admin/lua/session.lua" "../admin/lua/session_read.lua";
    /// `admin kick`: delete a session and announce it, atomically.
    ADMIN_KICK = "../admin/lua/session.lua" "../admin/lua/session_kick.lua";
    /// `admin leaderboard … around`: a member's rank and neighbours in one call.
    ADMIN_AROUND = "../admin/lua/leaderboard_around.lua";
}
