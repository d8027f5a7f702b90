//! The shapes the verb table is written in: a verb, its parameters and what each takes, and the
//! parameters several verbs share.

use super::build::{Args, Built};
use crate::command::{Command, Privilege};

/// What kind of value a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An env name.
    Env,
    /// An env name, or several joined by commas (`prod-eu,prod-us`), taken together.
    Envs,
    /// An env or pool name.
    Target,
    /// An env name, or `all`.
    Scope,
    /// A duration (`30m`).
    Duration,
    /// A duration, or `until <date> [<time>]`.
    Span,
    /// The rest of the line.
    Text,
    /// A whole number.
    Count,
    /// A command name.
    Topic,
    /// A `--flag`.
    Flag,
    /// A name from the `[admin]` config (queue, limiter, board), checked when the command runs.
    Name,
    /// A literal value from another service's data: a user id, a limiter identity, a member.
    Value,
    /// One of a few fixed words.
    Choice(&'static [&'static str]),
    /// `top <n>`: a count from 1 to [`MAX_TOP`](super::MAX_TOP) after the word `top`.
    Top,
    /// `around <member>`: a value after the word `around`.
    Around,
}

/// One parameter of a verb.
#[derive(Debug)]
pub struct Param {
    /// Its name in usage lines.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// Whether it must be given.
    pub required: bool,
    /// One line of help (also the Discord option description).
    pub help: &'static str,
}

/// One verb of the grammar.
#[derive(Debug)]
pub struct Verb {
    /// The words typed: one (`lock`), or several for a family (`admin ratelimit reset`); the
    /// longest name that the text starts with wins.
    pub name: &'static str,
    /// Its parameters, in order (flags may appear anywhere after the verb).
    pub params: &'static [Param],
    /// One line of help.
    pub summary: &'static str,
    /// Examples, shown by `help <verb>`.
    pub examples: &'static [&'static str],
    /// The least role it needs; the router checks it once, before the command runs, and `help`,
    /// the README and Discord show it. Admin verbs build an [`AdminCommand`], so they are
    /// privileged by type as well; taking a protected env needs a deployer whatever the verb.
    pub privilege: Privilege,
    /// How a refusal names the verb when the actor's role is too weak ("freezing and
    /// unfreezing"). `None` where anyone may run it, and for admin verbs, whose refusal names the
    /// command itself (`admin queue retry`, `--force`).
    pub refused_as: Option<&'static str>,
    /// Whether a success changes a lock, a queue, a claim or a freeze: such answers are for the
    /// whole channel (Slack's default `in_channel`), others only for the asker.
    pub changes_state: bool,
    /// Its arguments, as `parse` read them, as a typed command.
    pub(super) build: fn(Args) -> Built,
    /// Whether a command is this verb's: how the router finds the entry of a command that came
    /// from a button or another front end rather than from text.
    pub(super) owns: fn(&Command) -> bool,
}

pub(super) const fn p(name: &'static str, kind: Kind, required: bool, help: &'static str) -> Param {
    Param {
        name,
        kind,
        required,
        help,
    }
}

pub(super) const ENV: Param = p("env", Kind::Env, true, "the environment");
pub(super) const ENVS: Param = p(
    "env",
    Kind::Envs,
    true,
    "an env, or several like a,b (all or none)",
);
pub(super) const TTL: Param = p(
    "duration",
    Kind::Duration,
    false,
    "how long, like 30m or 2h (default: the env's)",
);
pub(super) const REASON: Param = p("reason", Kind::Text, false, "why, shown to everyone");
pub(super) const USER: Param = p(
    "user",
    Kind::Value,
    true,
    "the user id, as the app writes it into the session key",
);
pub(super) const LIMITER: Param = p(
    "limiter",
    Kind::Name,
    true,
    "a rate limiter from [admin] config",
);
pub(super) const IDENTITY: Param = p(
    "id",
    Kind::Value,
    true,
    "whose counters: a user id, email or IP, taken literally",
);
pub(super) const COUNT: Param = p(
    "n",
    Kind::Count,
    false,
    "how many entries (default 10, at most 50)",
);

pub(super) const GITHUB_RUN: Param = p(
    "run",
    Kind::Value,
    true,
    "the GitHub run, as announced: owner/repo#123, or its id",
);
/// How a refusal names `freeze` and `unfreeze`.
pub(super) const FREEZING: &str = "freezing and unfreezing";
/// What `approve` and `reject` are, in a refusal.
pub(super) const APPROVING: &str = "approving or rejecting a lock";
