//! The chat grammar. [`VERBS`] is the one definition of every command: [`parse`] reads text with
//! it, and `help`, usage hints (and later Slack hints and Discord options) are generated from it.
//!
//! # Format
//! `<verb> <arguments…>`, whitespace-separated; a trailing reason or note takes the rest of the line.

use std::time::{Duration, SystemTime};

use crate::command::{AdminArg, AdminCommand, Command, FreezeSpan, Privilege, QueueAction, Scope};
use crate::domain::{clean_text, preview, EnvName, Ttl, MAX_REASON_LEN};
use crate::error::BatonError;

/// Longest command text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 2000;
/// Longest freeze: beyond a year it is a policy, not a window (and Redis stores ms as doubles).
pub const MAX_FREEZE: Duration = Duration::from_secs(366 * 86_400);
/// Most history entries one `history` shows.
pub const MAX_HISTORY: usize = 50;
/// Most leaderboard ranks one `admin leaderboard … top <n>` shows.
pub const MAX_TOP: usize = 100;

/// What kind of value a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An env name.
    Env,
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
    /// `top <n>`: a count from 1 to [`MAX_TOP`] after the word `top`.
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
    /// The least role it needs (some envs need more; see the router).
    pub privilege: Privilege,
}

const fn p(name: &'static str, kind: Kind, required: bool, help: &'static str) -> Param {
    Param {
        name,
        kind,
        required,
        help,
    }
}

const ENV: Param = p("env", Kind::Env, true, "the environment");
const TTL: Param = p(
    "duration",
    Kind::Duration,
    false,
    "how long, like 30m or 2h (default: the env's)",
);
const REASON: Param = p("reason", Kind::Text, false, "why, shown to everyone");
const USER: Param = p(
    "user",
    Kind::Value,
    true,
    "the user id, as the app writes it into the session key",
);
const LIMITER: Param = p(
    "limiter",
    Kind::Name,
    true,
    "a rate limiter from [admin] config",
);
const IDENTITY: Param = p(
    "id",
    Kind::Value,
    true,
    "whose counters: a user id, email or IP, taken literally",
);
const COUNT: Param = p(
    "n",
    Kind::Count,
    false,
    "how many entries (default 10, at most 50)",
);

/// Every command Baton understands.
pub static VERBS: &[Verb] = &[
    Verb {
        name: "lock",
        params: &[ENV, TTL, REASON],
        summary: "take the deploy lock on an env",
        examples: &["lock prod 30m hotfix for login", "lock canary"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "unlock",
        params: &[
            ENV,
            p(
                "--force",
                Kind::Flag,
                false,
                "admins: release someone else's lock",
            ),
        ],
        summary: "release your deploy lock (the next in the queue gets it)",
        examples: &["unlock prod", "unlock prod --force"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "extend",
        params: &[
            ENV,
            p(
                "duration",
                Kind::Duration,
                true,
                "how much longer, like 30m",
            ),
        ],
        summary: "keep your lock or claim longer",
        examples: &["extend prod 30m"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "queue",
        params: &[ENV, TTL, REASON],
        summary: "wait in line for the deploy lock; you get it as soon as it is free",
        examples: &["queue prod 20m release 4.2"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "leave",
        params: &[ENV],
        summary: "leave an env's queue",
        examples: &["leave prod"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "status",
        params: &[p(
            "env|pool",
            Kind::Target,
            false,
            "an env or pool (default: all)",
        )],
        summary: "who holds what, why, until when, and who waits",
        examples: &["status", "status prod"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "claim",
        params: &[
            p(
                "env|pool",
                Kind::Target,
                true,
                "a staging env, or a pool for any free one",
            ),
            TTL,
            p("note", Kind::Text, false, "what you are using it for"),
        ],
        summary: "claim a staging env, or any free env of a pool",
        examples: &["claim staging 3h testing payments", "claim staging-2"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "release",
        params: &[
            ENV,
            p(
                "--force",
                Kind::Flag,
                false,
                "admins: release someone else's claim",
            ),
        ],
        summary: "release your claim",
        examples: &["release staging-2"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "history",
        params: &[
            ENV,
            p(
                "n",
                Kind::Count,
                false,
                "how many entries (default 10, at most 50)",
            ),
        ],
        summary: "what happened on an env, newest first",
        examples: &["history prod", "history prod 25"],
        privilege: Privilege::Anyone,
    },
    Verb {
        name: "freeze",
        params: &[
            p("env|all", Kind::Scope, true, "an env, a pool, or all"),
            p(
                "duration",
                Kind::Span,
                false,
                "how long, or `until 2026-12-24 18:00` (UTC); default: until unfrozen",
            ),
            REASON,
        ],
        summary: "refuse deploy locks (except to admins) for a while",
        examples: &[
            "freeze prod 2h incident 4711",
            "freeze all until 2026-12-24 18:00 holidays",
        ],
        privilege: Privilege::Deployer,
    },
    Verb {
        name: "unfreeze",
        params: &[p("env|all", Kind::Scope, true, "an env, a pool, or all")],
        summary: "lift a freeze",
        examples: &["unfreeze all"],
        privilege: Privilege::Deployer,
    },
    Verb {
        name: "admin queues",
        params: &[p(
            "queue",
            Kind::Name,
            false,
            "one queue, with its newest failed jobs (default: every queue)",
        )],
        summary: "BullMQ queues: job counts, paused or not, BullMQ version",
        examples: &["admin queues", "admin queues emails"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin queue",
        params: &[
            p(
                "action",
                Kind::Choice(&["retry", "pause", "resume"]),
                true,
                "retry every failed job, pause the queue, or resume it",
            ),
            p("queue", Kind::Name, true, "the BullMQ queue"),
        ],
        summary: "retry a queue's failed jobs, or pause or resume it, with BullMQ's own scripts",
        examples: &["admin queue retry emails", "admin queue resume emails"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin session",
        params: &[USER],
        summary: "whether a user has a session, its age, TTL and fingerprint; never the token",
        examples: &["admin session alice"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin kick",
        params: &[USER],
        summary: "end a user's session and announce it, so the app drops their connections",
        examples: &["admin kick alice"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin ratelimit",
        params: &[LIMITER, IDENTITY],
        summary: "one identity's rate-limit count, window and TTL",
        examples: &["admin ratelimit otp alice@example.com"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin ratelimit reset",
        params: &[LIMITER, IDENTITY],
        summary: "delete exactly one identity's rate-limit keys, and say how many",
        examples: &["admin ratelimit reset otp alice@example.com"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin leaderboard",
        params: &[
            p(
                "board",
                Kind::Name,
                true,
                "a leaderboard from [admin] config",
            ),
            p(
                "n",
                Kind::Top,
                false,
                "how many from the top (default 10, at most 100)",
            ),
            p(
                "member",
                Kind::Around,
                false,
                "show the ranks around this member",
            ),
        ],
        summary: "a leaderboard's top ranks, or the ranks around one member",
        examples: &[
            "admin leaderboard weekly",
            "admin leaderboard weekly top 25",
            "admin leaderboard weekly around alice",
        ],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "admin history",
        params: &[COUNT],
        summary: "what admins did (kicks, resets, queue actions) and who, newest first",
        examples: &["admin history", "admin history 25"],
        privilege: Privilege::Admin,
    },
    Verb {
        name: "help",
        params: &[p("command", Kind::Topic, false, "a command to explain")],
        summary: "show this help, or how to use one command",
        examples: &["help lock"],
        privilege: Privilege::Anyone,
    },
];

impl Verb {
    /// The usage line: `lock <env> [<duration>] [reason...]`.
    pub fn usage(&self) -> String {
        let mut out = self.name.to_string();
        for param in self.params {
            let shown = match param.kind {
                Kind::Span => "<duration> | until <time>".to_string(),
                Kind::Text => format!("{}...", param.name),
                Kind::Flag => param.name.to_string(),
                Kind::Choice(words) => words.join("|"),
                Kind::Top => format!("top <{}>", param.name),
                Kind::Around => format!("around <{}>", param.name),
                _ => format!("<{}>", param.name),
            };
            out.push(' ');
            if param.required {
                out.push_str(&shown);
            } else {
                out.push_str(&format!("[{shown}]"));
            }
        }
        out
    }
}

/// Finds a verb by name.
pub fn verb(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// The verb the words start with (the longest name wins), and how many words it took.
fn match_verb(words: &[&str]) -> Option<(&'static Verb, usize)> {
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
fn family(first: &str) -> Vec<&'static Verb> {
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

fn unknown(verb: &str) -> BatonError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::MAX_ADMIN_ARG_LEN;

    #[test]
    fn the_readme_command_table_is_the_generated_one() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("<!-- commands:start -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- commands:end -->").next())
            .expect("README.md has a commands block");
        if std::env::var_os("BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
            std::fs::write(path, readme.replace(block, &markdown_table())).unwrap();
            return;
        }
        assert_eq!(
            block,
            markdown_table(),
            "run `BLESS=1 cargo test -p baton-commands readme` to regenerate"
        );
    }

    #[test]
    fn every_verb_has_help_with_examples_that_parse() {
        for v in VERBS {
            let text = help(Some(v.name)).unwrap();
            assert!(text.starts_with(&v.usage()), "{text}");
            for example in v.examples {
                parse(example)
                    .unwrap_or_else(|e| panic!("example `{example}` does not parse: {e}"));
            }
        }
    }

    #[test]
    fn reasons_keep_their_words_and_durations_are_optional() {
        let c = parse("lock prod deploying 4.2 now").unwrap();
        assert_eq!(
            c,
            Command::Lock {
                env: EnvName::parse("prod").unwrap(),
                ttl: None,
                reason: "deploying 4.2 now".into()
            }
        );
        let c = parse("LOCK prod 1h30m  hotfix").unwrap();
        assert!(
            matches!(c, Command::Lock { ttl: Some(t), ref reason, .. } if t.as_millis() == 5_400_000 && reason == "hotfix")
        );
    }

    #[test]
    fn force_is_an_admin_command_by_type() {
        assert!(matches!(
            parse("unlock prod --force").unwrap(),
            Command::Admin(AdminCommand::ForceUnlock { .. })
        ));
        assert!(matches!(
            parse("release --force staging-2").unwrap(),
            Command::Admin(AdminCommand::ForceRelease { .. })
        ));
    }

    #[test]
    fn freeze_until_reads_a_utc_date_and_time() {
        let c = parse("freeze all until 2026-12-24 18:00 holidays").unwrap();
        let Command::Freeze {
            scope: Scope::All,
            span: FreezeSpan::Until(t),
            reason,
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2026-12-24T18:00:00Z"
        );
        assert_eq!(reason, "holidays");
    }

    #[test]
    fn a_reason_may_contain_dashes_but_not_control_or_bidi_characters() {
        let Command::Lock { reason, .. } = parse("lock prod 30m fix -- see --ticket 42").unwrap()
        else {
            panic!()
        };
        assert_eq!(reason, "fix -- see --ticket 42");
        let Command::Lock { reason, .. } = parse("lock prod evil\u{202e}txt.exe\u{7}").unwrap()
        else {
            panic!()
        };
        assert_eq!(reason, "eviltxt.exe");
        assert!(parse("unlock prod --forse")
            .unwrap_err()
            .to_string()
            .contains("no option `--forse`"));
    }

    #[test]
    fn admin_commands_are_multi_word_verbs_with_literal_values() {
        let arg = |s: &str| AdminArg::parse(s).unwrap();
        assert_eq!(
            parse("ADMIN Ratelimit RESET otp A*b?[c]").unwrap(),
            Command::Admin(AdminCommand::RateLimitReset {
                limiter: arg("otp"),
                id: arg("A*b?[c]")
            })
        );
        assert_eq!(
            parse("admin ratelimit otp reset").unwrap(),
            Command::Admin(AdminCommand::RateLimit {
                limiter: arg("otp"),
                id: arg("reset")
            })
        );
        assert_eq!(
            parse("admin queue Pause emails").unwrap(),
            Command::Admin(AdminCommand::Queue {
                action: QueueAction::Pause,
                queue: arg("emails")
            })
        );
        assert_eq!(
            parse("admin leaderboard weekly top 100 around Bob").unwrap(),
            Command::Admin(AdminCommand::Leaderboard {
                board: arg("weekly"),
                top: Some(100),
                around: Some(arg("Bob"))
            })
        );
        assert_eq!(
            parse("admin queues").unwrap(),
            Command::Admin(AdminCommand::Queues { queue: None })
        );
    }

    #[test]
    fn admin_mistakes_say_what_to_type() {
        for (text, says) in [
            (
                "admin",
                "`admin` needs one of: queues, queue, session, kick, ratelimit",
            ),
            ("admin kik bob", "did you mean `admin kick`?"),
            (
                "admin queue emails",
                "needs retry, pause or resume here, not `emails`",
            ),
            ("admin leaderboard weekly top 101", "a number from 1 to 100"),
            ("admin leaderboard weekly around", "`around` needs a member"),
            ("admin kick", "needs a <user>"),
            ("admin ratelimit otp", "needs an <id>"),
            ("admin session alice extra", "unexpected `extra`"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        let long = format!("admin kick {}", "x".repeat(MAX_ADMIN_ARG_LEN + 1));
        assert!(parse(&long)
            .unwrap_err()
            .to_string()
            .contains("at most 200"));
    }

    #[test]
    fn help_lists_the_admin_family_and_explains_each_member() {
        let family = help(Some("admin")).unwrap();
        assert!(
            family.contains("admin ratelimit reset <limiter> <id>"),
            "{family}"
        );
        assert!(
            family.contains("admin queue retry|pause|resume <queue>"),
            "{family}"
        );
        let Command::Help { topic } = parse("help admin ratelimit reset").unwrap() else {
            panic!()
        };
        let one = help(topic.as_deref()).unwrap();
        assert!(
            one.starts_with("admin ratelimit reset <limiter> <id>"),
            "{one}"
        );
        assert!(one.contains("needs the admin role"), "{one}");
    }

    #[test]
    fn freezes_longer_than_a_year_are_refused_in_words() {
        for text in ["freeze qa 3200y", "freeze qa until 9999-12-31"] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains("at most a year"), "{text}: {e}");
        }
    }
}
