//! Parsing chat text with the verb table. Never panics; every refusal says what to do.

use std::time::{Duration, SystemTime};

use crate::command::{AdminArg, AdminCommand, Command, FreezeSpan, QueueAction, Scope};
use crate::domain::{clean_text, preview, EnvName, Ttl, MAX_REASON_LEN};
use crate::error::BatonError;

use super::{
    family, match_verb, unknown, Kind, Verb, MAX_FREEZE, MAX_HISTORY, MAX_TEXT_LEN, MAX_TOP,
};

/// Values read for a verb's parameters, in the order of its spec.
#[derive(Default)]
struct Args {
    /// Admin names and values, in order.
    values: Vec<AdminArg>,
    choice: Option<&'static str>,
    top: Option<usize>,
    around: Option<AdminArg>,
    names: Vec<EnvName>,
    ttl: Option<Ttl>,
    span: Option<FreezeSpan>,
    all: bool,
    text: String,
    count: Option<usize>,
    topic: Option<String>,
    flag: bool,
}

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
    let args = read_args(v, words.split_off(used)).map_err(|m| usage_err(m, Some(v.usage())))?;
    Ok(build(v, args))
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

fn read_args(v: &Verb, mut words: Vec<&str>) -> Result<Args, String> {
    let mut args = Args::default();
    // Flags may stand anywhere after the verb. An unknown `--word` is a mistake, unless the verb
    // ends in free text, where it is simply part of the reason (`fix -- see ticket`).
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
    let mut words = words.into_iter().peekable();
    for param in v.params {
        let next = words.peek().copied();
        match (param.kind, next) {
            (Kind::Flag, _) => {}
            (Kind::Text, _) => {
                let rest: Vec<&str> = words.by_ref().collect();
                args.text = clean_text(&rest.join(" "));
                if args.text.chars().count() > MAX_REASON_LEN {
                    return Err(format!(
                        "the {} is too long (at most {MAX_REASON_LEN} characters)",
                        param.name
                    ));
                }
            }
            (_, None) if param.required => {
                return Err(format!(
                    "`{}` needs {} <{}>: {}",
                    v.name,
                    article(param.name),
                    param.name,
                    param.help
                ));
            }
            (_, None) => {}
            (Kind::Env | Kind::Target, Some(w)) => {
                args.names.push(EnvName::parse(w)?);
                words.next();
            }
            (Kind::Scope, Some(w)) => {
                if w.eq_ignore_ascii_case("all") {
                    args.all = true;
                } else {
                    args.names.push(EnvName::parse(w)?);
                }
                words.next();
            }
            (Kind::Duration, Some(w)) => {
                if param.required || looks_numeric(w) {
                    args.ttl = Some(Ttl::parse(w)?);
                    words.next();
                }
            }
            (Kind::Span, Some(w)) => {
                if w.eq_ignore_ascii_case("until") {
                    words.next();
                    let date = words
                        .next()
                        .ok_or("`until` needs a date, like `until 2026-12-24 18:00` (UTC)")?;
                    let time = words.next_if(|t| t.contains(':') && looks_numeric(t));
                    args.span = Some(FreezeSpan::Until(parse_until(date, time)?));
                } else if looks_numeric(w) {
                    let ttl = Ttl::parse(w)?;
                    if ttl.duration() > MAX_FREEZE {
                        return Err(format!("a freeze can last at most a year, not `{}`; unfreeze early if you need to", preview(w)));
                    }
                    args.span = Some(FreezeSpan::For(ttl));
                    words.next();
                }
            }
            (Kind::Count, Some(w)) => {
                if looks_numeric(w) {
                    let n: usize = w
                        .parse()
                        .map_err(|_| format!("`{}` is not a whole number", preview(w)))?;
                    if !(1..=MAX_HISTORY).contains(&n) {
                        return Err(format!(
                            "{} must be between 1 and {MAX_HISTORY}",
                            param.name
                        ));
                    }
                    args.count = Some(n);
                    words.next();
                }
            }
            (Kind::Topic, Some(_)) => {
                // A family's verbs have several words (`help admin kick`).
                let rest: Vec<&str> = words.clone().collect();
                let taken = match match_verb(&rest) {
                    Some((v, used)) if used > 1 => (v.name.to_string(), used),
                    _ => (rest[0].to_lowercase(), 1),
                };
                args.topic = Some(taken.0);
                for _ in 0..taken.1 {
                    words.next();
                }
            }
            (Kind::Name | Kind::Value, Some(w)) => {
                args.values.push(AdminArg::parse(w)?);
                words.next();
            }
            (Kind::Choice(options), Some(w)) => {
                let lower = w.to_lowercase();
                let Some(&chosen) = options.iter().find(|o| **o == lower) else {
                    let (last, rest) = options.split_last().unwrap_or((&"", &[]));
                    return Err(format!(
                        "`{}` needs {} or {last} here, not `{}`",
                        v.name,
                        rest.join(", "),
                        preview(w)
                    ));
                };
                args.choice = Some(chosen);
                words.next();
            }
            (Kind::Top, Some(w)) => {
                if w.eq_ignore_ascii_case("top") {
                    words.next();
                    let n = words
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| (1..=MAX_TOP).contains(n))
                        .ok_or(format!(
                            "`top` needs a number from 1 to {MAX_TOP}, like `top 25`"
                        ))?;
                    args.top = Some(n);
                }
            }
            (Kind::Around, Some(w)) => {
                if w.eq_ignore_ascii_case("around") {
                    words.next();
                    let member = words
                        .next()
                        .ok_or("`around` needs a member, like `around alice`")?;
                    args.around = Some(AdminArg::parse(member)?);
                }
            }
        }
    }
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{}` after the command", preview(extra)));
    }
    Ok(args)
}

fn article(name: &str) -> &'static str {
    // `u` is left out on purpose: "a <user>".
    if name.starts_with(['a', 'e', 'i', 'o']) {
        "an"
    } else {
        "a"
    }
}

/// Whether a word is meant as a number or duration (so `3x` is a bad duration, not a reason).
fn looks_numeric(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit())
        || (w.starts_with(['-', '+']) && w[1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// `2026-12-24`, `2026-12-24 18:00`, `2026-12-24T18:00:00Z`: all UTC.
fn parse_until(date: &str, time: Option<&str>) -> Result<SystemTime, String> {
    let joined = match time {
        Some(t) if t.matches(':').count() == 1 => format!("{date} {t}:00"),
        Some(t) => format!("{date} {t}"),
        None if date.contains('T') => date.to_string(),
        None => format!("{date} 00:00:00"),
    };
    let t = humantime::parse_rfc3339_weak(joined.trim_end_matches('Z')).map_err(|_| {
        format!(
            "`{}` is not a date and time: write it like `until 2026-12-24 18:00` (UTC)",
            preview(&joined)
        )
    })?;
    if t > SystemTime::now() + MAX_FREEZE {
        return Err(
            "a freeze can last at most a year; pick an earlier date, or unfreeze by hand".into(),
        );
    }
    Ok(t)
}

fn build(v: &Verb, a: Args) -> Command {
    // Every verb takes at most one name, and a required one is present once `read_args` succeeds.
    let first = a.names.into_iter().next();
    let env = || {
        first
            .clone()
            .unwrap_or_else(|| EnvName::parse("unnamed").expect("valid name"))
    };
    let scope = || match (a.all, first.clone()) {
        (false, Some(e)) => Scope::Env(e),
        _ => Scope::All,
    };
    let one_hour = Ttl::new(Duration::from_secs(3600)).expect("an hour is a valid ttl");
    match v.name {
        "lock" => Command::Lock {
            env: env(),
            ttl: a.ttl,
            reason: a.text,
        },
        "queue" => Command::Queue {
            env: env(),
            ttl: a.ttl,
            reason: a.text,
        },
        "unlock" if a.flag => Command::Admin(AdminCommand::ForceUnlock { env: env() }),
        "unlock" => Command::Unlock { env: env() },
        "extend" => Command::Extend {
            env: env(),
            by: a.ttl.unwrap_or(one_hour),
        },
        "leave" => Command::Leave { env: env() },
        "status" => Command::Status {
            target: first.clone(),
        },
        "claim" => Command::Claim {
            target: env(),
            ttl: a.ttl,
            note: a.text,
        },
        "release" if a.flag => Command::Admin(AdminCommand::ForceRelease { env: env() }),
        "release" => Command::Release { env: env() },
        "history" => Command::History {
            env: env(),
            count: a.count.unwrap_or(10),
        },
        "freeze" => Command::Freeze {
            scope: scope(),
            span: a.span.unwrap_or(FreezeSpan::UntilLifted),
            reason: a.text.clone(),
        },
        "unfreeze" => Command::Unfreeze { scope: scope() },
        "help" => Command::Help { topic: a.topic },
        _ => Command::Admin(build_admin(v, a.values, a.choice, a.top, a.around, a.count)),
    }
}

/// The `admin …` family. `read_args` has checked that every required value is present.
fn build_admin(
    v: &Verb,
    values: Vec<AdminArg>,
    choice: Option<&str>,
    top: Option<usize>,
    around: Option<AdminArg>,
    count: Option<usize>,
) -> AdminCommand {
    let mut values = values.into_iter();
    let first = values.next();
    let one = first.clone().unwrap_or_default();
    let second = values.next().unwrap_or_default();
    match v.name {
        "admin queues" => AdminCommand::Queues { queue: first },
        "admin queue" => AdminCommand::Queue {
            action: match choice {
                Some("pause") => QueueAction::Pause,
                Some("resume") => QueueAction::Resume,
                _ => QueueAction::Retry,
            },
            queue: one,
        },
        "admin session" => AdminCommand::Session { user: one },
        "admin kick" => AdminCommand::Kick { user: one },
        "admin ratelimit" => AdminCommand::RateLimit {
            limiter: one,
            id: second,
        },
        "admin ratelimit reset" => AdminCommand::RateLimitReset {
            limiter: one,
            id: second,
        },
        "admin leaderboard" => AdminCommand::Leaderboard {
            board: one,
            top,
            around,
        },
        _ => AdminCommand::History {
            count: count.unwrap_or(10),
        },
    }
}
