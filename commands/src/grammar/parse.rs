//! Parsing chat text with the verb table. Never panics; every refusal says what to do.

use std::iter::Peekable;

use crate::command::{AdminArg, Command, FreezeSpan};
use crate::domain::{clean_text, preview, EnvName, Ttl, MAX_REASON_LEN};
use crate::error::BatonError;

use super::build::Args;
use super::until::{Until, UNTIL_FORMAT};
use super::{
    family, match_verb, unknown, Kind, Param, Verb, MAX_FREEZE, MAX_HISTORY, MAX_SET, MAX_TEXT_LEN,
    MAX_TOP,
};

/// Parses chat text into a [`Command`]. Never panics; every refusal says what to do.
pub fn parse(text: &str) -> Result<Command, BatonError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(usage_err(
            format!(
                "that command is too long ({} bytes; at most {MAX_TEXT_LEN})",
                text.len()
            ),
            None,
        ));
    }
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Ok(Command::Help { topic: None });
    }
    let Some((v, used)) = match_verb(&words) else {
        return Err(unknown_words(&words));
    };
    read_args(v, words.split_off(used))
        .and_then(v.build)
        .map_err(|m| usage_err(m, Some(v.usage())))
}

/// No verb matched: a family word alone (`admin`) lists the family; otherwise a suggestion.
fn unknown_words(words: &[&str]) -> BatonError {
    let first = words[0].to_lowercase();
    let members = family(&first);
    if members.is_empty() {
        return unknown(&first);
    }
    if words.len() == 1 {
        let mut subs: Vec<&str> = members
            .iter()
            .filter_map(|v| v.name.split(' ').nth(1))
            .collect();
        subs.dedup();
        return usage_err(
            format!(
                "`{first}` needs one of: {}; `help {first}` explains them",
                subs.join(", ")
            ),
            None,
        );
    }
    unknown(&format!("{first} {}", words[1].to_lowercase()))
}

fn usage_err(message: String, usage: Option<String>) -> BatonError {
    BatonError::Usage { message, usage }
}

/// The words left after the verb, read one parameter at a time.
type Words<'a> = Peekable<std::vec::IntoIter<&'a str>>;

fn read_args(v: &Verb, words: Vec<&str>) -> Result<Args, String> {
    let mut args = Args::default();
    let mut words = take_flags(v, words, &mut args)?.into_iter().peekable();
    for param in v.params {
        read_param(v, param, &mut words, &mut args)?;
    }
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{}` after the command", preview(extra)));
    }
    Ok(args)
}

/// Flags may stand anywhere after the verb. An unknown `--word` is a mistake, unless the verb ends
/// in free text, where it is simply part of the reason (`fix -- see ticket`).
fn take_flags<'a>(
    v: &Verb,
    mut words: Vec<&'a str>,
    args: &mut Args,
) -> Result<Vec<&'a str>, String> {
    let takes_text = v.params.iter().any(|p| p.kind == Kind::Text);
    let mut i = 0;
    while i < words.len() {
        let known = v
            .params
            .iter()
            .any(|p| p.kind == Kind::Flag && p.name.eq_ignore_ascii_case(words[i]));
        match words[i].strip_prefix("--") {
            Some(_) if known => {
                args.flag = true;
                words.remove(i);
            }
            Some(flag) if !takes_text && !flag.is_empty() => {
                return Err(format!("`{}` has no option `--{}`", v.name, preview(flag)));
            }
            _ => i += 1,
        }
    }
    Ok(words)
}

/// Reads one parameter from the front of `words`; an optional one that is absent (or, for a
/// duration or count, does not look like one) takes nothing.
fn read_param(v: &Verb, param: &Param, words: &mut Words, args: &mut Args) -> Result<(), String> {
    if param.kind == Kind::Flag {
        return Ok(());
    }
    if param.kind == Kind::Text {
        let rest: Vec<&str> = words.by_ref().collect();
        args.text = clean_text(&rest.join(" "));
        if args.text.chars().count() > MAX_REASON_LEN {
            return Err(format!(
                "the {} is too long (at most {MAX_REASON_LEN} characters)",
                param.name
            ));
        }
        return Ok(());
    }
    let Some(w) = words.peek().copied() else {
        if !param.required {
            return Ok(());
        }
        return Err(format!(
            "`{}` needs {} <{}>: {}",
            v.name,
            article(param.name),
            param.name,
            param.help
        ));
    };
    match param.kind {
        // Several envs where one is taken: say which verbs take several, not that `a,b` is a
        // bad name.
        Kind::Env | Kind::Target if w.contains(',') => {
            return Err(format!(
                "`{}` takes one env at a time; `lock`, `queue`, `extend`, `unlock` and `leave` take several joined by commas (all or none)",
                v.name
            ))
        }
        Kind::Env | Kind::Target => args.names.push(EnvName::parse(w)?),
        Kind::Envs => args.names.extend(read_envs(w)?),
        Kind::Scope if w.eq_ignore_ascii_case("all") => args.all = true,
        Kind::Scope => args.names.push(EnvName::parse(w)?),
        Kind::Duration if param.required || looks_numeric(w) => args.ttl = Some(Ttl::parse(w)?),
        Kind::Span => return read_span(w, words, args),
        // An optional count leaves a duration (`claim staging 4h`) to the duration after it.
        Kind::Count if looks_numeric(w) && (param.required || !is_duration(w)) => {
            args.count = Some(read_count(param, w)?)
        }
        Kind::Topic => {
            args.topic = Some(read_topic(words));
            return Ok(());
        }
        Kind::Name | Kind::Value => args.values.push(AdminArg::parse(w)?),
        Kind::Choice(options) => args.choice = Some(read_choice(v, options, w)?),
        Kind::Top if w.eq_ignore_ascii_case("top") => {
            words.next();
            let n = words
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=MAX_TOP).contains(n))
                .ok_or(format!(
                    "`top` needs a number from 1 to {MAX_TOP}, like `top 25`"
                ))?;
            args.top = Some(n);
            return Ok(());
        }
        Kind::Around if w.eq_ignore_ascii_case("around") => {
            words.next();
            let member = words
                .next()
                .ok_or("`around` needs a member, like `around alice`")?;
            args.around = Some(AdminArg::parse(member)?);
            return Ok(());
        }
        // An optional duration, count, `top` or `around` that is not there takes no word.
        Kind::Duration | Kind::Count | Kind::Top | Kind::Around => return Ok(()),
        Kind::Flag | Kind::Text => return Ok(()),
    }
    words.next();
    Ok(())
}

/// A freeze's span: `until <day> [<time>] [<zone>]` (see `until.rs`), a duration of at most a
/// year, or nothing.
fn read_span(w: &str, words: &mut Words, args: &mut Args) -> Result<(), String> {
    if w.eq_ignore_ascii_case("until") {
        words.next();
        let day = words.next().ok_or(format!(
            "`until` needs a time, a date or a weekday; {UNTIL_FORMAT}"
        ))?;
        let until = Until::read(day, |accept| words.next_if(|w| accept(w)))?;
        args.span = Some(FreezeSpan::Until(until));
    } else if looks_numeric(w) {
        let ttl = Ttl::parse(w)?;
        if ttl.duration() > MAX_FREEZE {
            return Err(format!(
                "a freeze can last at most a year, not `{}`; unfreeze early if you need to",
                preview(w)
            ));
        }
        args.span = Some(FreezeSpan::For(ttl));
        words.next();
    }
    Ok(())
}

fn read_count(param: &Param, w: &str) -> Result<usize, String> {
    let n: usize = w
        .parse()
        .map_err(|_| format!("`{}` is not a whole number", preview(w)))?;
    if !(1..=MAX_HISTORY).contains(&n) {
        return Err(format!(
            "{} must be between 1 and {MAX_HISTORY}",
            param.name
        ));
    }
    Ok(n)
}

/// A `help` topic: a family's verbs have several words (`help admin kick`).
fn read_topic(words: &mut Words) -> String {
    let rest: Vec<&str> = words.clone().collect();
    let (topic, used) = match match_verb(&rest) {
        Some((v, used)) if used > 1 => (v.name.to_string(), used),
        _ => (rest[0].to_lowercase(), 1),
    };
    for _ in 0..used {
        words.next();
    }
    topic
}

fn read_choice(v: &Verb, options: &[&'static str], w: &str) -> Result<&'static str, String> {
    let lower = w.to_lowercase();
    options
        .iter()
        .find(|o| **o == lower)
        .copied()
        .ok_or_else(|| {
            let (last, rest) = options.split_last().unwrap_or((&"", &[]));
            format!(
                "`{}` needs {} or {last} here, not `{}`",
                v.name,
                rest.join(", "),
                preview(w)
            )
        })
}

fn article(name: &str) -> &'static str {
    // `u` is left out on purpose: "a <user>".
    if name.starts_with(['a', 'e', 'i', 'o']) {
        "an"
    } else {
        "a"
    }
}

/// Envs joined by commas (`prod-eu,prod-us`): each a name, none twice, at most [`MAX_SET`].
fn read_envs(w: &str) -> Result<Vec<EnvName>, String> {
    let mut out: Vec<EnvName> = Vec::new();
    for item in w.split(',') {
        if item.is_empty() {
            return Err(format!(
                "`{}` has an empty name between commas; write envs like prod-eu,prod-us",
                preview(w)
            ));
        }
        let env = EnvName::parse(item)?;
        if out
            .iter()
            .any(|e| e.as_str().eq_ignore_ascii_case(env.as_str()))
        {
            return Err(format!("`{env}` is named twice in `{}`", preview(w)));
        }
        out.push(env);
    }
    if out.len() > MAX_SET {
        return Err(format!(
            "at most {MAX_SET} envs can be locked together, not {}",
            out.len()
        ));
    }
    Ok(out)
}

/// A duration with its unit (`4h`), not a bare number.
fn is_duration(w: &str) -> bool {
    w.parse::<usize>().is_err() && Ttl::parse(w).is_ok()
}

/// Whether a word is meant as a number or duration (so `3x` is a bad duration, not a reason).
/// Discord's options ask it too, so a value they rebuild into text is read as they meant it.
pub fn looks_numeric(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit())
        || (w.starts_with(['-', '+']) && w[1..].starts_with(|c: char| c.is_ascii_digit()))
}
