//! `/baton` as one Discord application command, generated from the grammar's [`VERBS`]: each verb
//! is a subcommand (a verb of two words, like `admin queues`, a subcommand of a group; `freeze
//! skip`, whose first word is a verb itself, the subcommand `freeze-skip`), each
//! parameter a typed option whose description is the parameter's help. An invocation goes back to
//! chat text (`lock prod 30m hotfix`) so that [`grammar::parse`] stays the one parser.
//!
//! # Format
//! `/baton <verb> [<option>:<value>…]`, e.g. `/baton lock env:prod duration:30m reason:hotfix`.

use std::sync::LazyLock;

use baton_commands::command::MAX_ADMIN_ARG_LEN;
use baton_commands::domain::{MAX_NAME_LEN, MAX_REASON_LEN};
use baton_commands::grammar::{Kind, Param, Verb, MAX_SET, MAX_TOP, VERBS};
use baton_commands::BatonError;

use super::limits::{MAX_CHOICES, MAX_NAME, MAX_OPTION_DESCRIPTION};
use serenity::all::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};

pub use super::options::{suggestions, to_text};

/// The application command's name.
pub const COMMAND_NAME: &str = "baton";

/// One verb as Discord sees it.
pub(crate) struct Sub {
    group: Option<String>,
    name: String,
    pub(crate) verb: &'static Verb,
    pub(crate) options: Vec<Opt>,
}

/// One parameter as Discord sees it.
pub(crate) struct Opt {
    pub(crate) name: String,
    pub(crate) param: &'static Param,
}

/// The table both directions use, built once from the grammar.
static SUBS: LazyLock<Vec<Sub>> = LazyLock::new(|| VERBS.iter().map(sub).collect());

fn sub(verb: &'static Verb) -> Sub {
    let words: Vec<String> = verb.name.split_whitespace().map(option_name).collect();
    // Discord cannot have `freeze` as both a subcommand and a group: a verb whose first word is a
    // verb of its own (`freeze skip`) is one hyphenated subcommand (`freeze-skip`).
    let first_is_a_verb = |first: &str| VERBS.iter().any(|v| v.name == first);
    let (group, name) = match words.as_slice() {
        [] => (None, "verb".to_string()),
        [one] => (None, one.clone()),
        [first, ..] if first_is_a_verb(first) => (None, clip(&words.join("-"), MAX_NAME)),
        [first, rest @ ..] => (Some(first.clone()), clip(&rest.join("-"), MAX_NAME)),
    };
    let mut options: Vec<Opt> = Vec::new();
    for param in verb.params {
        let base = option_name(param.name);
        let mut name = base.clone();
        let mut n = 2;
        while options.iter().any(|o| o.name == name) {
            name = clip(&format!("{base}-{n}"), MAX_NAME);
            n += 1;
        }
        options.push(Opt { name, param });
    }
    Sub {
        group,
        name,
        verb,
        options,
    }
}

/// `--force` → `force`, `env|pool` → `env`, `Note Text` → `note_text`: a valid, lowercase name.
pub(crate) fn option_name(raw: &str) -> String {
    let first = raw.trim_start_matches('-').split('|').next().unwrap_or("");
    let cleaned: String = first
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clip(&cleaned, MAX_NAME) {
        s if s.is_empty() => "value".into(),
        s => s,
    }
}

pub(crate) use crate::kit::names::clip;

fn description(text: &str, fallback: &str) -> String {
    let text = if text.trim().is_empty() {
        fallback
    } else {
        text
    };
    clip(text.trim(), MAX_OPTION_DESCRIPTION)
}

/// The `/baton` command with every verb of the grammar, ready to register.
pub fn definition() -> CreateCommand {
    let mut command = CreateCommand::new(COMMAND_NAME)
        .description("Deploy locks and staging claims: lock, queue, claim, status, freeze…");
    let mut groups: Vec<(String, CreateCommandOption)> = Vec::new();
    for sub in SUBS.iter() {
        let summary = format!("{}{}", sub.verb.summary, sub.verb.role_note());
        let mut option = CreateCommandOption::new(
            CommandOptionType::SubCommand,
            &sub.name,
            description(&summary, sub.verb.name),
        );
        // Discord wants required options first; the order the text is rebuilt in is the grammar's.
        let (required, optional): (Vec<&Opt>, Vec<&Opt>) =
            sub.options.iter().partition(|o| o.param.required);
        for opt in required.into_iter().chain(optional) {
            option = option.add_sub_option(typed_option(opt));
        }
        match &sub.group {
            None => command = command.add_option(option),
            Some(g) => match groups.iter_mut().find(|(name, _)| name == g) {
                Some((_, group)) => *group = group.clone().add_sub_option(option),
                None => {
                    let group = CreateCommandOption::new(
                        CommandOptionType::SubCommandGroup,
                        g,
                        format!("{g} commands"),
                    )
                    .add_sub_option(option);
                    groups.push((g.clone(), group));
                }
            },
        }
    }
    for (_, group) in groups {
        command = command.add_option(group);
    }
    command
}

fn typed_option(opt: &Opt) -> CreateCommandOption {
    let p = opt.param;
    let kind = match p.kind {
        Kind::Count | Kind::Top => CommandOptionType::Integer,
        Kind::Flag => CommandOptionType::Boolean,
        _ => CommandOptionType::String,
    };
    let mut o = CreateCommandOption::new(kind, &opt.name, description(p.help, p.name))
        .required(p.required && p.kind != Kind::Flag);
    if completes(p.kind) {
        o = o.set_autocomplete(true);
    }
    match p.kind {
        Kind::Count => o.min_int_value(1),
        Kind::Top => o.min_int_value(1).max_int_value(MAX_TOP as u64),
        Kind::Text => o.max_length(MAX_REASON_LEN as u16),
        Kind::Env | Kind::Target | Kind::Scope => o.max_length(MAX_NAME_LEN as u16),
        // Up to MAX_SET names joined by commas.
        Kind::Envs => o.max_length(((MAX_NAME_LEN + 1) * MAX_SET) as u16),
        Kind::Name | Kind::Value | Kind::Around => o.max_length(MAX_ADMIN_ARG_LEN as u16),
        Kind::Choice(words) if words.len() <= MAX_CHOICES => {
            words.iter().fold(o, |o, w| o.add_string_choice(*w, *w))
        }
        _ => o,
    }
}

/// Parameters whose values come from a known list.
fn completes(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Env | Kind::Envs | Kind::Target | Kind::Scope | Kind::Topic
    )
}

/// The subcommand invoked and its options.
pub(crate) fn invoked(
    data: &CommandData,
) -> Result<(&'static Sub, &[CommandDataOption]), BatonError> {
    let outdated = || BatonError::Usage {
        message:
            "this Discord command is out of date; ask an admin to run `baton discord register`"
                .into(),
        usage: None,
    };
    if data.name != COMMAND_NAME {
        return Err(outdated());
    }
    let (group, sub, options) = match data.options.first().map(|o| (&o.name, &o.value)) {
        Some((name, CommandDataOptionValue::SubCommand(opts))) => (None, name, opts.as_slice()),
        Some((group, CommandDataOptionValue::SubCommandGroup(subs))) => match subs.first() {
            Some(CommandDataOption {
                name,
                value: CommandDataOptionValue::SubCommand(opts),
                ..
            }) => (Some(group), name, opts.as_slice()),
            _ => return Err(outdated()),
        },
        _ => return Err(outdated()),
    };
    SUBS.iter()
        .find(|s| s.group.as_ref() == group && &s.name == sub)
        .map(|s| (s, options))
        .ok_or_else(outdated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn every_verb_is_a_subcommand_described_by_its_summary_with_typed_options() {
        let payload = serde_json::to_value(definition()).unwrap();
        let top = payload["options"].as_array().unwrap();
        let find = |list: &Value, name: &str| {
            list.as_array()
                .and_then(|l| l.iter().find(|o| o["name"] == name).cloned())
                .unwrap_or_else(|| panic!("no `{name}` in {list}"))
        };
        for v in VERBS {
            let sub = match v.name.split_once(' ') {
                None => find(&payload["options"], v.name),
                Some((first, _)) if VERBS.iter().any(|o| o.name == first) => {
                    find(&payload["options"], &v.name.replace(' ', "-"))
                }
                Some((group, rest)) => find(
                    &find(&payload["options"], group)["options"],
                    &rest.replace(' ', "-"),
                ),
            };
            let described = sub["description"].as_str().unwrap();
            assert!(
                described.starts_with(&clip(v.summary, 60).trim_end_matches('…').to_string()),
                "{}: {described}",
                v.name
            );
        }
        let lock = find(&payload["options"], "lock");
        assert_eq!(lock["options"][0]["name"], "env");
        assert_eq!(lock["options"][0]["autocomplete"], true);
        assert_eq!(
            lock["options"][0]["description"],
            "an env, or several like a,b (all or none)"
        );
        let queue = find(&find(&payload["options"], "admin")["options"], "queue");
        assert_eq!(
            find(&queue["options"], "action")["choices"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let board = find(
            &find(&payload["options"], "admin")["options"],
            "leaderboard",
        );
        assert_eq!(find(&board["options"], "n")["type"], 4);
        assert!(top.len() <= 25);
    }
}
