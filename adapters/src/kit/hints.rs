//! What to type next, the same on every platform that takes typed commands: help says how to
//! type one, an unknown verb comes with the verb list and how to read about one, a usage mistake
//! with where the examples are. Hints are plain text with `code` spans; the platform escapes and
//! places them.

use baton_commands::{grammar, BatonError, Outcome, Reply};

/// The reply to show for `outcome` and the hint under it, for a platform where commands are
/// typed after `invoke` (`/baton`).
pub fn hinted(outcome: &Outcome, invoke: &str) -> (Reply, Option<String>) {
    let reply = outcome.reply.clone();
    match &outcome.result {
        Ok(_) if outcome.is("help") => {
            let hint =
                format!("Type these after `{invoke}`, like `{invoke} lock prod 30m hotfix`.");
            (reply, Some(hint))
        }
        Ok(_) => (reply, None),
        Err(BatonError::UnknownCommand { .. }) => {
            let mut reply = reply;
            reply.text = grammar::help(None).ok();
            let hint = format!("Type `{invoke} help <command>` to see how one works.");
            (reply, Some(hint))
        }
        Err(BatonError::Usage { usage: Some(_), .. }) => {
            // The first word typed, as ever: `help admin` lists the family's usages.
            let first = outcome
                .entry
                .map_or("", |v| v.name.split(' ').next().unwrap_or(""));
            (
                reply,
                Some(format!("Type `{invoke} help {first}` for examples.")),
            )
        }
        Err(_) => (reply, None),
    }
}
