//! Discord's documented limits on application commands, checked on the JSON that registration
//! sends, so a grammar that outgrows them fails a test (and `baton discord register`) with a
//! sentence, not Discord's 400.

use serde_json::Value;

/// Subcommands, groups or options at one level.
const MAX_OPTIONS: usize = 25;
/// Choices of one option (and autocomplete choices shown).
pub const MAX_CHOICES: usize = 25;
/// Names of commands and options.
pub const MAX_NAME: usize = 32;
/// Descriptions, and choice names and values.
pub const MAX_OPTION_DESCRIPTION: usize = 100;
/// Names, descriptions and choice values of a whole command, added up.
const MAX_TOTAL: usize = 4000;
/// `min_length` / `max_length` of a string option.
const MAX_STRING_LENGTH: u64 = 6000;

const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;

/// Every way `command` (one application command as JSON) breaks Discord's limits; empty when
/// Discord will accept it.
pub fn problems(command: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let name = command["name"].as_str().unwrap_or_default();
    check_name(name, name, &mut out);
    check_description(name, &command["description"], &mut out);
    let mut total = chars(name) + chars(command["description"].as_str().unwrap_or_default());
    check_options(name, &command["options"], 0, &mut total, &mut out);
    if total > MAX_TOTAL {
        out.push(format!(
            "{name}: names, descriptions and choices add up to {total} characters; Discord allows {MAX_TOTAL}"
        ));
    }
    out
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_name(path: &str, name: &str, out: &mut Vec<String>) {
    let valid_chars = name
        .chars()
        .all(|c| c == '-' || c == '_' || c.is_alphabetic() || c.is_numeric());
    if !(1..=MAX_NAME).contains(&chars(name)) || !valid_chars {
        out.push(format!(
            "{path}: the name `{name}` must be 1 to {MAX_NAME} letters, digits, `-` or `_`"
        ));
    }
    if name.to_lowercase() != name {
        out.push(format!("{path}: the name `{name}` must be lowercase"));
    }
}

fn check_description(path: &str, description: &Value, out: &mut Vec<String>) {
    let n = chars(description.as_str().unwrap_or_default());
    if !(1..=MAX_OPTION_DESCRIPTION).contains(&n) {
        out.push(format!(
            "{path}: the description is {n} characters; Discord wants 1 to {MAX_OPTION_DESCRIPTION}"
        ));
    }
}

/// `depth` 0 is the command itself, 1 a subcommand group, 2 a subcommand in a group.
fn check_options(
    path: &str,
    options: &Value,
    depth: usize,
    total: &mut usize,
    out: &mut Vec<String>,
) {
    let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
    if options.len() > MAX_OPTIONS {
        out.push(format!(
            "{path}: {} options or subcommands; Discord allows {MAX_OPTIONS}",
            options.len()
        ));
    }
    let kinds: Vec<u64> = options
        .iter()
        .map(|o| o["type"].as_u64().unwrap_or(0))
        .collect();
    let nested = kinds
        .iter()
        .filter(|k| matches!(**k, SUB_COMMAND | SUB_COMMAND_GROUP))
        .count();
    if nested > 0 && nested < kinds.len() {
        out.push(format!(
            "{path}: subcommands cannot sit next to plain options"
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    let mut seen_optional = false;
    for (option, kind) in options.iter().zip(kinds) {
        let name = option["name"].as_str().unwrap_or_default();
        let here = format!("{path} {name}");
        check_name(&here, name, out);
        check_description(&here, &option["description"], out);
        *total += chars(name) + chars(option["description"].as_str().unwrap_or_default());
        if names.contains(&name) {
            out.push(format!("{path}: the option name `{name}` is used twice"));
        }
        names.push(name);
        match kind {
            SUB_COMMAND_GROUP if depth > 0 => {
                out.push(format!("{here}: a group can only sit at the top"))
            }
            SUB_COMMAND if depth > 1 => out.push(format!("{here}: subcommands nest too deep")),
            SUB_COMMAND | SUB_COMMAND_GROUP => {
                if kind == SUB_COMMAND_GROUP
                    && option["options"]
                        .as_array()
                        .is_some_and(|o| o.iter().any(|s| s["type"] != SUB_COMMAND))
                {
                    out.push(format!("{here}: a group may hold only subcommands"));
                }
                let next = if kind == SUB_COMMAND { 2 } else { depth + 1 };
                check_options(&here, &option["options"], next, total, out);
            }
            3..=11 => {
                let required = option["required"].as_bool().unwrap_or(false);
                if required && seen_optional {
                    out.push(format!(
                        "{here}: a required option must come before the optional ones"
                    ));
                }
                seen_optional |= !required;
                check_value_limits(&here, option, total, out);
            }
            other => out.push(format!("{here}: unknown option type {other}")),
        }
    }
}

fn check_value_limits(path: &str, option: &Value, total: &mut usize, out: &mut Vec<String>) {
    let choices = option["choices"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if choices.len() > MAX_CHOICES {
        out.push(format!(
            "{path}: {} choices; Discord allows {MAX_CHOICES}",
            choices.len()
        ));
    }
    if !choices.is_empty() && option["autocomplete"] == true {
        out.push(format!(
            "{path}: an option cannot have both choices and autocomplete"
        ));
    }
    for choice in choices {
        let name = choice["name"].as_str().unwrap_or_default();
        let value = match &choice["value"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !(1..=MAX_OPTION_DESCRIPTION).contains(&chars(name))
            || chars(&value) > MAX_OPTION_DESCRIPTION
        {
            out.push(format!(
                "{path}: the choice `{name}` needs a name of 1 to {MAX_OPTION_DESCRIPTION} characters and a value of at most {MAX_OPTION_DESCRIPTION}"
            ));
        }
        *total += chars(name) + chars(&value);
    }
    for key in ["min_length", "max_length"] {
        if let Some(n) = option[key].as_u64() {
            let least = u64::from(key == "max_length");
            if !(least..=MAX_STRING_LENGTH).contains(&n) {
                out.push(format!(
                    "{path}: {key} {n} is outside {least}..={MAX_STRING_LENGTH}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_generated_baton_command_is_within_every_discord_limit() {
        let payload = serde_json::to_value(super::super::commands::definition()).unwrap();
        assert_eq!(problems(&payload), Vec::<String>::new(), "{payload:#}");
    }

    #[test]
    fn each_broken_limit_is_named() {
        let long = "x".repeat(101);
        let many: Vec<Value> = (0..26)
            .map(|i| json!({"type": 3, "name": format!("o{i}"), "description": "d"}))
            .collect();
        for (what, command, says) in [
            (
                "upper case",
                json!({"name": "Baton", "description": "d"}),
                "lowercase",
            ),
            (
                "a space",
                json!({"name": "ba ton", "description": "d"}),
                "letters, digits",
            ),
            (
                "empty description",
                json!({"name": "b", "description": ""}),
                "1 to 100",
            ),
            (
                "long description",
                json!({"name": "b", "description": long}),
                "101 characters",
            ),
            (
                "26 options",
                json!({"name": "b", "description": "d", "options": many}),
                "Discord allows 25",
            ),
            (
                "required after optional",
                json!({"name": "b", "description": "d", "options": [
                    {"type": 3, "name": "a", "description": "d"},
                    {"type": 3, "name": "c", "description": "d", "required": true}]}),
                "before the optional",
            ),
            (
                "a duplicate name",
                json!({"name": "b", "description": "d", "options": [
                    {"type": 3, "name": "a", "description": "d"},
                    {"type": 3, "name": "a", "description": "d"}]}),
                "used twice",
            ),
            (
                "over 4000 characters",
                json!({"name": "b", "description": "d", "options": (0..25).map(|i| json!({
                    "type": 1, "name": format!("s{i}"), "description": "x".repeat(100),
                    "options": (0..2).map(|j| json!({"type": 3, "name": format!("o{j}"), "description": "y".repeat(100)})).collect::<Vec<_>>()
                })).collect::<Vec<_>>()}),
                "add up to",
            ),
        ] {
            let found = problems(&command);
            assert!(found.iter().any(|p| p.contains(says)), "{what}: {found:?}");
        }
    }
}
