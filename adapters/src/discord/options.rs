//! An invocation back to chat text, so [`grammar::parse`](baton_commands::grammar::parse) stays
//! the one parser, and autocomplete for the option being typed.

use baton_commands::grammar::{self, looks_numeric, Kind, Param, Verb, VERBS};
use baton_commands::BatonError;
use baton_commands::Catalog;
use serenity::all::{CommandData, CommandDataOptionValue};

use super::commands::{invoked, option_name, Opt};
use super::limits::MAX_CHOICES;

/// The chat text an invocation stands for: `/baton lock env:prod reason:hotfix` → `lock prod hotfix`.
/// Values the grammar would read differently than the options say are refused, not guessed at.
pub fn to_text(data: &CommandData) -> Result<String, BatonError> {
    let (sub, given) = invoked(data)?;
    let usage = |message: String| BatonError::Usage {
        message,
        usage: Some(sub.verb.usage()),
    };
    let mut words = vec![sub.verb.name.to_string()];
    // An optional value the grammar reads only when it looks like one (a duration, a count): if it
    // is left out, the next value must not look like it, or the parser would take it for it.
    let mut skipped: Option<&Param> = None;
    for opt in &sub.options {
        let value = given
            .iter()
            .find(|o| o.name == opt.name)
            .map(|o| value_text(&o.value))
            .transpose()
            .map_err(|what| usage(format!("`{}` must be {what}", opt.name)))?
            .filter(|v| !v.is_empty());
        match value {
            Some(value) => {
                // Flags may stand anywhere, so they do not close a gap.
                let gap = match opt.param.kind {
                    Kind::Flag => None,
                    _ => skipped.take(),
                };
                words.extend(option_words(sub.verb, opt, &value, gap).map_err(usage)?);
            }
            None if !opt.param.required
                && matches!(opt.param.kind, Kind::Duration | Kind::Span | Kind::Count) =>
            {
                skipped = skipped.or(Some(opt.param));
            }
            None => {}
        }
    }
    // `admin ratelimit` with the limiter `reset` would read as `admin ratelimit reset`.
    if grammar::verb_in(&words.join(" ")).map(|v| v.name) != Some(sub.verb.name) {
        return Err(usage(format!(
            "`{}` would be read as a different command; pick another value",
            words.get(1).map_or("", String::as_str)
        )));
    }
    Ok(words.join(" "))
}

/// The words one option adds to the text, in the grammar's spelling (`--force`, `top 25`).
fn option_words(
    verb: &Verb,
    opt: &Opt,
    value: &str,
    gap: Option<&Param>,
) -> Result<Vec<String>, String> {
    let p = opt.param;
    match p.kind {
        Kind::Flag if value == "true" => return Ok(vec![p.name.to_string()]),
        Kind::Flag => return Ok(Vec::new()),
        _ => {}
    }
    let first = value.split_whitespace().next().unwrap_or("");
    let until = |kind: Kind| kind == Kind::Span && first.eq_ignore_ascii_case("until");
    if let Some(gap) = gap {
        if looks_numeric(first) || until(gap.kind) {
            return Err(format!(
                "`{}` starts with `{first}`, which would be read as the {}: give the {} option too",
                opt.name,
                gap.name,
                option_name(gap.name)
            ));
        }
    }
    // The grammar reads an optional duration only when it looks like one; anything else would
    // silently become the start of the reason.
    let optional_duration = matches!(p.kind, Kind::Duration | Kind::Span) && !p.required;
    if optional_duration && !looks_numeric(first) && !until(p.kind) {
        let or_until = if p.kind == Kind::Span {
            ", or `until 2026-12-24 18:00`"
        } else {
            ""
        };
        return Err(format!(
            "`{}` must be a duration like 30m or 2h{or_until}",
            opt.name
        ));
    }
    let free = matches!(p.kind, Kind::Text | Kind::Span | Kind::Topic);
    if !free && value.split_whitespace().nth(1).is_some() {
        return Err(format!("`{}` must be one word", opt.name));
    }
    let is_flag = |w: &str| {
        verb.params
            .iter()
            .any(|f| f.kind == Kind::Flag && f.name.eq_ignore_ascii_case(w))
    };
    if let Some(flag) = value.split_whitespace().find(|w| is_flag(w)) {
        return Err(format!(
            "`{}` cannot contain `{flag}`; use the {} option",
            opt.name,
            option_name(flag)
        ));
    }
    Ok(match p.kind {
        Kind::Top => vec!["top".into(), value.to_string()],
        Kind::Around => vec!["around".into(), value.to_string()],
        _ => vec![value.to_string()],
    })
}

fn value_text(value: &CommandDataOptionValue) -> Result<String, &'static str> {
    match value {
        CommandDataOptionValue::String(s) => Ok(s.trim().to_string()),
        CommandDataOptionValue::Autocomplete { value, .. } => Ok(value.trim().to_string()),
        CommandDataOptionValue::Integer(n) => Ok(n.to_string()),
        CommandDataOptionValue::Boolean(b) => Ok(b.to_string()),
        _ => Err("text"),
    }
}

/// Suggestions for the option being typed: configured envs, pools, `all`, or command names,
/// those starting with what was typed (any case), at most 25.
pub fn suggestions(catalog: &Catalog, data: &CommandData) -> Vec<String> {
    let Ok((sub, given)) = invoked(data) else {
        return Vec::new();
    };
    let focused = given.iter().find_map(|o| match &o.value {
        CommandDataOptionValue::Autocomplete { value, .. } => Some((o.name.as_str(), value)),
        _ => None,
    });
    let Some((name, typed)) = focused else {
        return Vec::new();
    };
    let Some(opt) = sub.options.iter().find(|o| o.name == name) else {
        return Vec::new();
    };
    let envs = catalog.envs().iter().map(|e| e.name.to_string());
    let pools = catalog.pools().iter().map(|p| p.name.to_string());
    // Several envs (`prod-eu,prod-us`): the names typed so far stay, the last one completes.
    let (before, typed) = match (opt.param.kind, typed.rsplit_once(',')) {
        (Kind::Envs, Some((done, last))) => (format!("{done},"), last),
        _ => (String::new(), typed.as_str()),
    };
    let candidates: Vec<String> = match opt.param.kind {
        Kind::Env | Kind::Envs => envs.collect(),
        Kind::Target => envs.chain(pools).collect(),
        Kind::Scope => std::iter::once("all".to_string())
            .chain(envs)
            .chain(pools)
            .collect(),
        Kind::Topic => {
            // Every verb, with each family word (`admin`) before its members (`admin kick`).
            let mut topics: Vec<String> = Vec::new();
            for v in VERBS {
                let family = v.name.split_whitespace().next().unwrap_or(v.name);
                for topic in [family, v.name] {
                    if !topics.iter().any(|t| t == topic) {
                        topics.push(topic.to_string());
                    }
                }
            }
            topics
        }
        _ => Vec::new(),
    };
    let typed = typed.trim().to_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.to_lowercase().starts_with(&typed))
        .map(|c| format!("{before}{c}"))
        .take(MAX_CHOICES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// An invocation of `path` (`lock`, or `admin leaderboard` in its group) with `options`.
    fn data(path: &str, options: &[(&str, Value)]) -> CommandData {
        let options: Vec<Value> = options
            .iter()
            .map(|(name, value)| {
                let kind = match value {
                    Value::Bool(_) => 5,
                    Value::Number(_) => 4,
                    _ => 3,
                };
                json!({"name": name, "type": kind, "value": value})
            })
            .collect();
        let option = match path.split_once(' ') {
            None => json!({"name": path, "type": 1, "options": options}),
            Some((group, sub)) => json!({"name": group, "type": 2, "options": [
                {"name": sub, "type": 1, "options": options}]}),
        };
        serde_json::from_value(json!({"id": "1", "name": "baton", "type": 1, "options": [option]}))
            .unwrap()
    }

    #[test]
    fn typed_options_become_chat_text_that_the_grammar_parses() {
        for (what, path, options, text) in [
            (
                "every option",
                "lock",
                vec![
                    ("env", json!("prod")),
                    ("duration", json!("30m")),
                    ("reason", json!("hotfix for login")),
                ],
                "lock prod 30m hotfix for login",
            ),
            (
                "options in any order",
                "lock",
                vec![("reason", json!("x")), ("env", json!("qa"))],
                "lock qa x",
            ),
            (
                "a true flag",
                "unlock",
                vec![("env", json!("prod")), ("force", json!(true))],
                "unlock prod --force",
            ),
            (
                "a false flag",
                "unlock",
                vec![("env", json!("prod")), ("force", json!(false))],
                "unlock prod",
            ),
            (
                "an integer",
                "history",
                vec![("env", json!("prod")), ("n", json!(25))],
                "history prod 25",
            ),
            (
                "a span with spaces",
                "freeze",
                vec![
                    ("env", json!("all")),
                    ("duration", json!("until 2026-12-24 18:00")),
                    ("reason", json!("holidays")),
                ],
                "freeze all until 2026-12-24 18:00 holidays",
            ),
            ("no options", "status", vec![], "status"),
            (
                "a topic of two words",
                "help",
                vec![("command", json!("admin kick"))],
                "help admin kick",
            ),
            (
                "a group's subcommand with a choice",
                "admin queue",
                vec![("queue", json!("emails")), ("action", json!("pause"))],
                "admin queue pause emails",
            ),
            (
                "words the grammar expects before top and around",
                "admin leaderboard",
                vec![
                    ("board", json!("weekly")),
                    ("member", json!("bob")),
                    ("n", json!(25)),
                ],
                "admin leaderboard weekly top 25 around bob",
            ),
            (
                "a verb of three words",
                "admin ratelimit-reset",
                vec![("limiter", json!("otp")), ("id", json!("a@b.c"))],
                "admin ratelimit reset otp a@b.c",
            ),
        ] {
            let made = to_text(&data(path, &options)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(made, text, "{what}");
            grammar_parses(&made);
        }
    }

    fn grammar_parses(text: &str) {
        baton_commands::grammar::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
    }

    #[test]
    fn values_the_grammar_would_misread_are_refused_in_words() {
        for (what, path, options, says) in [
            (
                "two words for an env",
                "lock",
                vec![("env", json!("prod qa"))],
                "one word",
            ),
            (
                "a reason that looks like the missing duration",
                "lock",
                vec![("env", json!("prod")), ("reason", json!("4.2 release"))],
                "give the duration option too",
            ),
            (
                "a duration that is not one",
                "lock",
                vec![("env", json!("prod")), ("duration", json!("soon"))],
                "must be a duration",
            ),
            (
                "a flag hidden in a value",
                "unlock",
                vec![("env", json!("--force"))],
                "use the force option",
            ),
            (
                "a value that turns the verb into another",
                "admin ratelimit",
                vec![("limiter", json!("reset")), ("id", json!("x"))],
                "different command",
            ),
            (
                "an unknown subcommand",
                "lokc",
                vec![],
                "baton discord register",
            ),
        ] {
            let e = to_text(&data(path, &options)).unwrap_err().to_string();
            assert!(e.contains(says), "{what}: {e}");
        }
    }
}
