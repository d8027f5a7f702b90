//! Chat front ends as configuration sees them. The core names no chat platform: each front end
//! (a folder of the adapters crate) describes itself in a [`Front`] and registers it at start-up
//! ([`register`]), and the checks of `[roles]`, secrets and `announce` read the registry.
//!
//! What the core itself serves keeps its own identities ([`CORE_IDENTITIES`]: the CI API, the
//! console and GitHub runs).

use std::sync::RwLock;

/// Identity prefixes of the core's own callers: CI tokens, console users and GitHub runs.
pub const CORE_IDENTITIES: [&str; 3] = ["ci", "console", "github"];

/// A chat front end's identity, secrets and channel syntax.
#[derive(Debug)]
pub struct Front {
    /// How people call it (`Slack`), in messages.
    pub name: &'static str,
    /// The prefix of its people's identities (`slack` in `slack:U123`), also its announcement
    /// channels' prefix.
    pub prefix: &'static str,
    /// Prefixes of the groups it gives its people (`slack-team`), which roles may name too.
    pub groups: &'static [&'static str],
    /// One identity as an example (`slack:U123`).
    pub example: &'static str,
    /// Whether a bare id written without a prefix looks like one of its users, so `[roles]` can
    /// say which prefix to add.
    pub bare_user: fn(&str) -> bool,
    /// Config keys that hold its secrets (`slack.bot_token`): set from the environment only.
    pub secrets: &'static [&'static str],
    /// Checks the id of an announcement channel (what follows `prefix:`), with a sentence on how
    /// to find the right one; `None` when it takes no announcements.
    pub channel: Option<ChannelCheck>,
}

/// Checks an announcement channel's id: `Err` holds the sentence that says how to find the right
/// one.
pub type ChannelCheck = fn(&str) -> Result<(), String>;

static REGISTERED: RwLock<Vec<&'static Front>> = RwLock::new(Vec::new());

/// Adds `front` to the registry; registering a prefix again changes nothing.
pub fn register(front: &'static Front) {
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|f| f.prefix == front.prefix) {
        all.push(front);
    }
}

/// Every registered front end, in registration order.
pub fn registered() -> Vec<&'static Front> {
    REGISTERED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Every identity prefix `[roles]` may name: the front ends' and their groups', then the core's.
pub fn identity_prefixes() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in registered() {
        out.push(f.prefix);
        out.extend(f.groups);
    }
    out.extend(CORE_IDENTITIES);
    out
}
