//! The chat grammar. [`VERBS`] is the one definition of every command: [`parse`] reads text with
//! it into a typed [`Command`], the router finds a command's entry in it ([`entry`]) for the
//! privilege check, and `help`, the README's command table, Slack's usage hint and manifest, and
//! Discord's options are generated from it.
//!
//! # Format
//! `<verb> <arguments…>`, whitespace-separated; a trailing reason or note takes the rest of the line.
//!
//! - `verbs`: the table itself ([`VERBS`], [`Verb`], [`Param`], [`Kind`]).
//! - `build`: one builder per entry, from the arguments read to the entry's [`Command`].
//! - `parse`: text → [`Command`] by that table.
//! - here: lookups, `help` and the README's command table, all generated from the table.
//!
//! # Adding a verb
//! Only the grammar (this folder), the family's handler file and tests change:
//! 1. its entry in `verbs.rs`: name, parameters, help, privilege, whether it changes state, its
//!    builder and which commands it owns;
//! 2. its builder in `build.rs`, and its variant in its family's enum in `command.rs`
//!    ([`LockCommand`](command::LockCommand), [`ClaimCommand`](command::ClaimCommand), …);
//! 3. in the family's handler file (`deploy.rs` for locks, `freeze.rs`, `staging.rs` for claims,
//!    `status.rs` for reads, `admin/` for admin commands): the arm of its service's `run` (the
//!    compiler points at it, the match is exhaustive) and the handler itself;
//! 4. a case in `entry_tests.rs` (which fails until the entry has one), the handler's tests, and
//!    `BLESS=1 cargo test -p baton-commands readme` for the README's table.
//!
//! The router matches families, never verbs, so it does not change; nor does the one road or any
//! adapter. A new family (a new service) is the one case that adds a router arm.
//!
//! Help, the README table, Slack's usage hint, manifest and default `in_channel`, and Discord's
//! options follow from the entry; the router takes its privilege and log label from it, and the
//! one road (`road.rs`) decides every platform's visibility from `changes_state`. No adapter
//! changes.

mod build;
pub mod command;
mod parse;
mod spec;
pub mod until;
mod verbs;

use std::time::Duration;

use crate::command::{Command, Privilege};
use crate::domain::{did_you_mean, preview};
use crate::error::BatonError;

pub use parse::{looks_numeric, parse};
pub use spec::{Kind, Param, Verb};
pub use verbs::VERBS;

/// Longest command text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 2000;
/// Longest freeze: beyond a year it is a policy, not a window (and Redis stores ms as doubles).
pub const MAX_FREEZE: Duration = Duration::from_secs(366 * 86_400);
/// Most history entries one `history` shows.
pub const MAX_HISTORY: usize = 50;
/// The most envs one command locks together.
pub const MAX_SET: usize = 10;
/// Most leaderboard ranks one `admin leaderboard … top <n>` shows.
pub const MAX_TOP: usize = 100;

/// Finds a verb by name.
pub fn verb(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// The verb chat text starts with, as [`parse`] reads it: empty text is `help`; `None` when no
/// verb matches. Front ends ask it instead of guessing from the first word, so a verb of several
/// words (`admin kick`) is the verb its entry says.
pub fn verb_in(text: &str) -> Option<&'static Verb> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return verb("help");
    }
    match_verb(&words).map(|(v, _)| v)
}

/// The entry a command belongs to, whichever front end made it: the router takes the privilege
/// from it, once. `None` for the CI API's commands, which have no chat form.
pub fn entry(command: &Command) -> Option<&'static Verb> {
    VERBS.iter().find(|v| (v.owns)(command))
}

/// The verb the words start with (the longest name wins), and how many words it took.
pub(super) fn match_verb(words: &[&str]) -> Option<(&'static Verb, usize)> {
    VERBS
        .iter()
        .filter_map(|v| {
            let parts: Vec<&str> = v.name.split(' ').collect();
            let matches = parts.len() <= words.len()
                && parts
                    .iter()
                    .zip(words)
                    .all(|(part, word)| word.eq_ignore_ascii_case(part));
            matches.then_some((v, parts.len()))
        })
        .max_by_key(|(_, len)| *len)
}

/// The verbs of a family (`admin`), for `help admin` and for `admin` typed alone.
pub(super) fn family(first: &str) -> Vec<&'static Verb> {
    let prefix = format!("{first} ");
    VERBS
        .iter()
        .filter(|v| v.name.starts_with(&prefix))
        .collect()
}

/// `help` or `help <command>`, generated from [`VERBS`].
pub fn help(topic: Option<&str>) -> Result<String, BatonError> {
    match topic {
        None => {
            let width = VERBS.iter().map(|v| v.usage().len()).max().unwrap_or(0);
            let mut out = String::from("Commands:\n");
            for v in VERBS {
                out.push_str(&format!("  {:width$}  {}\n", v.usage(), v.summary));
            }
            out.push_str(
                "Durations look like 30m, 2h or 1h30m. `help <command>` explains one command.",
            );
            Ok(out)
        }
        Some(name) => {
            let name = name.to_lowercase();
            let members = family(&name);
            if verb(&name).is_none() && !members.is_empty() {
                let width = members.iter().map(|v| v.usage().len()).max().unwrap_or(0);
                let mut out = format!("`{name}` commands:\n");
                for v in members {
                    out.push_str(&format!("  {:width$}  {}\n", v.usage(), v.summary));
                }
                return Ok(out.trim_end().to_string());
            }
            let v = verb(&name).ok_or_else(|| unknown(&name))?;
            let mut out = format!("{}\n  {}\n", v.usage(), v.summary);
            for param in v.params {
                out.push_str(&format!("  {:<10} {}\n", param.name, param.help));
            }
            if v.privilege > Privilege::Anyone {
                out.push_str(&format!("  needs the {:?} role\n", v.privilege).to_lowercase());
            }
            out.push_str("Examples:\n");
            for e in v.examples {
                out.push_str(&format!("  {e}\n"));
            }
            Ok(out.trim_end().to_string())
        }
    }
}

/// The command table of the README, generated so it cannot drift from the grammar.
pub fn markdown_table() -> String {
    let mut out = String::from("| command | does |\n|---|---|\n");
    for v in VERBS {
        let usage = v.usage().replace('|', "\\|"); // a bare `|` would end the table cell
        out.push_str(&format!("| `{usage}` | {}{} |\n", v.summary, v.role_note()));
    }
    out
}

/// An unknown verb is a reply with a suggestion, not a bare error.
pub(super) fn unknown(verb: &str) -> BatonError {
    let suggestion = did_you_mean(verb, VERBS.iter().map(|v| v.name)).map(String::from);
    BatonError::UnknownCommand {
        verb: preview(verb),
        suggestion,
    }
}

#[cfg(test)]
mod entry_tests;
#[cfg(test)]
mod tests;
