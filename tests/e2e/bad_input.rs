//! Bad input: every mistake a person can type is refused with a sentence that says what to do,
//! and nothing in Redis changes. Garbage never panics and never floods a channel.

use baton_commands::reply::{ReplyData, Tone};
use baton_commands::BatonError;
use baton_commands::HoldKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{spawn_core, TestApp};

/// One mistake: who types what, which refusal it must be, and what the sentence must tell them.
struct Case {
    what: &'static str,
    user: &'static str,
    text: String,
    is: fn(&BatonError) -> bool,
    says: &'static [&'static str],
}

fn case(
    what: &'static str,
    user: &'static str,
    text: impl Into<String>,
    is: fn(&BatonError) -> bool,
    says: &'static [&'static str],
) -> Case {
    Case {
        what,
        user,
        text: text.into(),
        is,
        says,
    }
}

/// alice locks prod, bob claims staging-2: state that a careless refusal could disturb.
async fn app_with_some_state() -> TestApp {
    let app = spawn_core().await;
    app.ok("alice", "lock prod 30m hotfix").await;
    app.ok("bob", "claim staging-2 3h payments QA").await;
    app
}

fn usage(e: &BatonError) -> bool {
    matches!(e, BatonError::Usage { .. })
}

fn refused(e: &BatonError) -> bool {
    matches!(e, BatonError::Refused(_))
}

fn cases() -> Vec<Case> {
    let long_name = "x".repeat(1990); // a 1990-byte env name in a command just under 2000 bytes
    let long_reason = "r".repeat(2100);
    vec![
        case(
            "an unknown verb suggests the closest one",
            "alice",
            "lokc prod",
            |e| matches!(e, BatonError::UnknownCommand { verb, suggestion: Some(s) } if verb == "lokc" && s == "lock"),
            &["unknown command `lokc`", "did you mean `lock`?"],
        ),
        case(
            "an unknown env suggests the closest one and lists the known ones",
            "alice",
            "lock prdo",
            |e| matches!(e, BatonError::UnknownEnv { name, suggestion: Some(s), known } if name == "prdo" && s == "prod" && known.len() == 7),
            &[
                "unknown environment `prdo`",
                "did you mean `prod`?",
                "known: prod, canary, qa, staging-1",
                "staging (pool)",
            ],
        ),
        case(
            "a malformed duration asks for one like 30m",
            "alice",
            "lock qa 3x",
            |e| matches!(e, BatonError::Usage { usage: Some(u), .. } if u.starts_with("lock <env>")),
            &["`3x` is not a duration", "like 30m"],
        ),
        case(
            "a zero duration asks for at least a second",
            "alice",
            "lock qa 0s",
            usage,
            &["`0s` is too short", "at least one second"],
        ),
        case(
            "a lock over the env's max says the max",
            "alice",
            "lock qa 2h",
            usage,
            &["longer than qa allows (at most 1h)", "`extend` later"],
        ),
        case(
            "a claim over the pool's max says the max",
            "carol",
            "claim staging 9h",
            usage,
            &["longer than staging allows (at most 8h)"],
        ),
        case(
            "a glob star in an env name is refused",
            "alice",
            "lock prod*",
            usage,
            &[
                "`prod*` is not a valid environment name",
                "`*` is not allowed",
                "use letters, digits",
            ],
        ),
        case(
            "a glob question mark in an env name is refused",
            "alice",
            "lock st?ging",
            usage,
            &["`?` is not allowed", "use letters, digits"],
        ),
        case(
            "a glob class in an env name is refused",
            "alice",
            "lock a[b]",
            usage,
            &["`[` is not allowed", "use letters, digits"],
        ),
        case(
            "a 2 KB env name is refused without echoing it back",
            "alice",
            format!("lock {long_name}"),
            usage,
            &["too long for an environment name (1990 characters; at most 64)"],
        ),
        case(
            "a command over 2000 bytes is refused by its length",
            "alice",
            format!("lock qa 30m {long_reason}"),
            |e| matches!(e, BatonError::Usage { usage: None, .. }),
            &["that command is too long (2112 bytes; at most 2000)"],
        ),
        case(
            "unlock by someone who does not hold the lock names the holder",
            "bob",
            "unlock prod",
            |e| matches!(e, BatonError::NotHolder { kind: HoldKind::Lock, hold, .. } if hold.display == "alice"),
            &[
                "prod is locked by alice, not by you",
                "an admin can `unlock prod --force`",
            ],
        ),
        case(
            "extend by someone who does not hold the lock names the holder",
            "bob",
            "extend prod 30m",
            |e| matches!(e, BatonError::NotHolder { kind: HoldKind::Lock, hold, .. } if hold.display == "alice"),
            &["prod is locked by alice, not by you", "ask them"],
        ),
        case(
            "extending an env nobody holds says to take it first",
            "alice",
            "extend qa 30m",
            |e| matches!(e, BatonError::NotHeld { env, .. } if env == "qa"),
            &["qa is not locked", "`lock qa` or `claim qa` first"],
        ),
        case(
            "releasing an unclaimed env says it is not claimed",
            "bob",
            "release staging-1",
            |e| matches!(e, BatonError::NotHeld { kind: HoldKind::Claim, env, .. } if env == "staging-1"),
            &["staging-1 is not claimed"],
        ),
        case(
            "release by someone who did not claim it names the claimer",
            "alice",
            "release staging-2",
            |e| matches!(e, BatonError::NotHolder { kind: HoldKind::Claim, hold, .. } if hold.display == "bob"),
            &[
                "staging-2 is claimed by bob, not by you",
                "an admin can `release staging-2 --force`",
            ],
        ),
        case(
            "leaving a queue you are not in says so",
            "bob",
            "leave qa",
            refused,
            &["you are not in the queue for qa"],
        ),
        case(
            "unfreezing an env that is not frozen says so",
            "alice",
            "unfreeze qa",
            refused,
            &["qa is not frozen"],
        ),
        case(
            "history of zero entries gives the range",
            "bob",
            "history prod 0",
            usage,
            &["n must be between 1 and 50"],
        ),
        case(
            "history of too many entries gives the range",
            "bob",
            "history prod 999",
            usage,
            &["n must be between 1 and 50"],
        ),
        case(
            "status of an unknown env lists the known ones",
            "bob",
            "status nosuchenv",
            |e| {
                matches!(
                    e,
                    BatonError::UnknownEnv {
                        suggestion: None,
                        ..
                    }
                )
            },
            &["unknown environment `nosuchenv`", "known: prod"],
        ),
        case(
            "a misspelt flag is refused with the usage that shows the right one",
            "admin",
            "unlock prod --forse",
            |e| matches!(e, BatonError::Usage { usage: Some(u), .. } if u.contains("--force")),
            &["`unlock` has no option `--forse`"],
        ),
        case(
            "leftover arguments are refused, naming the first",
            "bob",
            "status prod extra",
            usage,
            &["unexpected `extra` after the command"],
        ),
        case(
            "freezing until a time in the past asks for a later one",
            "alice",
            "freeze qa until 2001-01-01 00:00",
            usage,
            &[
                "2001-01-01 00:00 UTC is in the past",
                "freeze until a later time",
            ],
        ),
        case(
            "freezing until a date more than a year ahead is refused",
            "alice",
            "freeze qa until 9999-12-31",
            usage,
            &["at most a year"],
        ),
        case(
            "freezing until something that is not a date shows the format",
            "alice",
            "freeze qa until notadate",
            usage,
            &[
                "is not a date and time",
                "`until 2026-12-24 18:00` or `until fri 18:00 Europe/Berlin`",
            ],
        ),
        case(
            "someone without a role cannot lock a protected env",
            "carol",
            "lock prod",
            |e| matches!(e, BatonError::Forbidden(_)),
            &[
                "prod is protected",
                "needs the deployer role",
                "console:carol",
                "roles.deployer",
            ],
        ),
        case(
            "a deployer cannot force-unlock",
            "bob",
            "unlock prod --force",
            |e| matches!(e, BatonError::Forbidden(_)),
            &["`--force` needs the admin role", "roles.admin"],
        ),
    ]
}

#[tokio::test]
async fn every_mistake_is_refused_with_what_to_do_and_changes_nothing() {
    let app = app_with_some_state().await;
    let mut failures = Vec::new();
    for c in cases() {
        let before = app.snapshot().await;
        let result = app.run(c.user, &c.text).await;
        let after = app.snapshot().await;
        let e = match result {
            Ok(reply) => {
                failures.push(format!(
                    "{}: `{}` succeeded: {}",
                    c.what, c.text, reply.title
                ));
                continue;
            }
            Err((e, reply)) => {
                assert_eq!(reply.tone, Tone::Refused, "{}", c.what);
                assert_eq!(reply.title, e.to_string(), "{}", c.what);
                e
            }
        };
        let said = e.to_string();
        if !(c.is)(&e) {
            failures.push(format!("{}: wrong refusal {e:?}", c.what));
        }
        for s in c.says {
            if !said.contains(s) {
                failures.push(format!("{}: {said:?} does not say {s:?}", c.what));
            }
        }
        if said.chars().count() >= 300 {
            failures.push(format!(
                "{}: {} characters is too long to post: {said:?}",
                c.what,
                said.len()
            ));
        }
        if before != after {
            failures.push(format!(
                "{}: Redis changed:\n before {before:?}\n after  {after:?}",
                c.what
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn empty_text_is_help_not_an_error() {
    let app = app_with_some_state().await;
    let before = app.snapshot().await;
    for text in ["", "   ", "\t\n"] {
        let reply = app.ok("carol", text).await;
        assert_eq!(reply.tone, Tone::Info);
        let help = reply.text.expect("help text");
        assert!(help.starts_with("Commands:"), "{help}");
        assert!(
            help.contains("lock <env> [<duration>] [reason...]"),
            "{help}"
        );
    }
    assert_eq!(before, app.snapshot().await);
}

/// A freeze "forever" ends past what the scripts write as integers (1e14 ms, around year 5138).
/// Refusing it and honouring it are both fine; leaving the env unreadable is not.
#[tokio::test]
async fn a_freeze_far_in_the_future_is_refused_or_works_but_never_wedges_the_env() {
    for (env, text) in [
        ("qa", "freeze qa until 9999-12-31"),
        ("canary", "freeze canary 3200y"),
    ] {
        let app = app_with_some_state().await;
        let before = app.snapshot().await;
        if let Err((e, _)) = app.run("alice", text).await {
            assert!(!matches!(e, BatonError::Internal), "`{text}`: {e}");
            assert_eq!(
                before,
                app.snapshot().await,
                "`{text}` was refused yet changed Redis"
            );
            continue;
        }
        app.ok("bob", &format!("status {env}")).await;
        app.ok("bob", "status").await;
        let e = app.refused("bob", &format!("lock {env}")).await;
        assert!(
            matches!(e, BatonError::Frozen { .. }),
            "after `{text}`: {e:?}"
        );
        app.ok("alice", &format!("unfreeze {env}")).await;
        app.ok("bob", &format!("lock {env}")).await;
    }
}

#[tokio::test]
async fn a_refused_force_unlock_leaves_the_lock_with_its_holder() {
    let app = app_with_some_state().await;
    let e = app.refused("bob", "unlock prod --force").await;
    assert!(matches!(e, BatonError::Forbidden(_)), "{e:?}");
    let status = app.ok("bob", "status prod").await;
    let Some(ReplyData::Envs { envs }) = status.data else {
        panic!("env states")
    };
    let lock = envs[0].lock.as_ref().expect("prod is still locked");
    assert_eq!(
        (lock.display.as_str(), lock.reason.as_str()),
        ("alice", "hotfix")
    );
    app.ok("alice", "unlock prod").await;
}

/// Text nobody should type: random bytes, unicode, huge tokens, blanks, control characters, and
/// real verbs followed by junk so the junk reaches every argument parser.
fn garbage(rng: &mut StdRng) -> String {
    const VERBS: [&str; 14] = [
        "lock", "unlock", "extend", "queue", "leave", "status", "claim", "release", "history",
        "freeze", "unfreeze", "help", "admin", "LOCK",
    ];
    const WORDS: [&str; 24] = [
        "prod",
        "qa",
        "canary",
        "staging",
        "staging-1",
        "all",
        "until",
        "--force",
        "--",
        "-",
        "30m",
        "0s",
        "-5m",
        "+3",
        "1h30m",
        "99999999999999999999h",
        "584542046y",
        "2001-01-01",
        "9999-99-99",
        "00:00",
        "2030-01-01T00:00:00Z",
        "999",
        "{tag}",
        "*",
    ];
    const ODD: [&str; 10] = [
        "é", "🦀", "\u{202e}", "\u{0}", "\u{7}", "\u{feff}", "ß", "İ", "\u{a0}", "\u{2028}",
    ];
    let token = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..10) {
            0..=4 => WORDS[rng.gen_range(0..WORDS.len())].to_string(),
            5 => ODD[rng.gen_range(0..ODD.len())].repeat(rng.gen_range(1..80)),
            6 => "x".repeat(rng.gen_range(60..1500)),
            7 => (0..rng.gen_range(1..20))
                .map(|_| rng.gen_range('!'..='~'))
                .collect(),
            8 => {
                let bytes: Vec<u8> = (0..rng.gen_range(1..40)).map(|_| rng.gen()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => rng.gen_range(0..100_000u32).to_string(),
        }
    };
    match rng.gen_range(0..8) {
        0 => {
            let bytes: Vec<u8> = (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        1 => " ".repeat(rng.gen_range(1..50)),
        2 => (0..rng.gen_range(1..30))
            .map(|_| char::from(rng.gen_range(0u8..32)))
            .collect(),
        _ => {
            let mut words = vec![VERBS[rng.gen_range(0..VERBS.len())].to_string()];
            for _ in 0..rng.gen_range(0..4) {
                words.push(token(rng));
            }
            words.join(if rng.gen_bool(0.8) { " " } else { "\t " })
        }
    }
}

#[tokio::test]
async fn garbage_never_panics_and_every_refusal_is_a_short_sentence() {
    let app = app_with_some_state().await;
    let mut rng = StdRng::seed_from_u64(0xBA70);
    let users = ["alice", "bob", "carol", "admin", "slack:U0G9QF9C6"];
    let mut failures = Vec::new();
    for i in 0..400 {
        let text = garbage(&mut rng);
        let user = users[i % users.len()];
        match app.run(user, &text).await {
            Ok(_) => {}
            Err((e, _)) => {
                let said = e.to_string();
                let n = said.chars().count();
                if n == 0 || n >= 600 || matches!(e, BatonError::Internal) {
                    failures.push(format!(
                        "case {i} as {user}: {text:?} gave {e:?} ({n} chars)"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
