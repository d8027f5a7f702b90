//! The chat grammar. [`VERBS`] is the one definition of every command: [`parse`] reads text with
//! it, and `help`, usage hints (and later Slack hints and Discord options) are generated from it.
//!
//! # Format
//! `<verb> <arguments…>`, whitespace-separated; a trailing reason or note takes the rest of the line.

//!
//! - `verbs`: the table itself ([`VERBS`], [`Verb`], [`Param`], [`Kind`]).
//! - `parse`: text → [`Command`] by that table.
//! - here: lookups, `help` and the README's command table, all generated from the table.

mod parse;
mod verbs;

use std::time::Duration;

use crate::command::Privilege;
use crate::domain::preview;
use crate::error::BatonError;

pub use parse::parse;
pub use verbs::{Kind, Param, Verb, VERBS};

/// Longest command text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 2000;
/// Longest freeze: beyond a year it is a policy, not a window (and Redis stores ms as doubles).
pub const MAX_FREEZE: Duration = Duration::from_secs(366 * 86_400);
/// Most history entries one `history` shows.
pub const MAX_HISTORY: usize = 50;
/// Most leaderboard ranks one `admin leaderboard … top <n>` shows.
pub const MAX_TOP: usize = 100;

/// Finds a verb by name.
pub fn verb(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
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
        let role = match v.privilege {
            Privilege::Anyone => "",
            Privilege::Deployer => " (deployers and admins)",
            Privilege::Admin => " (admins)",
        };
        let usage = v.usage().replace('|', "\\|"); // a bare `|` would end the table cell
        out.push_str(&format!("| `{usage}` | {}{role} |\n", v.summary));
    }
    out
}

pub(super) fn unknown(verb: &str) -> BatonError {
    let lower = verb.to_lowercase();
    let suggestion = VERBS
        .iter()
        .map(|v| (strsim::damerau_levenshtein(&lower, v.name), v.name))
        .filter(|(d, name)| *d <= 2 && *d < name.len())
        .min()
        .map(|(_, name)| name.to_string());
    BatonError::UnknownCommand {
        verb: preview(verb),
        suggestion,
    }
}

#[cfg(test)]
mod tests;
