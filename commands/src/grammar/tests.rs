//! The grammar's unit tests.

use super::*;
use crate::command::MAX_ADMIN_ARG_LEN;
use crate::command::{
    AdminArg, AdminCommand, Command, FreezeCommand, FreezeSpan, LockCommand, QueueAction, Scope,
};
use crate::domain::EnvName;

#[test]
fn the_readme_command_table_is_the_generated_one() {
    let readme = include_str!("../../../README.md");
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
            parse(example).unwrap_or_else(|e| panic!("example `{example}` does not parse: {e}"));
        }
    }
}

#[test]
fn reasons_keep_their_words_and_durations_are_optional() {
    let c = parse("lock prod deploying 4.2 now").unwrap();
    assert_eq!(
        c,
        Command::Locks(LockCommand::Lock {
            env: EnvName::parse("prod").unwrap(),
            ttl: None,
            reason: "deploying 4.2 now".into()
        })
    );
    let c = parse("LOCK prod 1h30m  hotfix").unwrap();
    assert!(
        matches!(c, Command::Locks(LockCommand::Lock { ttl: Some(t), ref reason, .. }) if t.as_millis() == 5_400_000 && reason == "hotfix")
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
fn freeze_until_reads_a_date_and_time() {
    let c = parse("freeze all until 2026-12-24 18:00 holidays").unwrap();
    let Command::Freezes(FreezeCommand::Freeze {
        scope: Scope::All,
        span: FreezeSpan::Until(t),
        reason,
    }) = c
    else {
        panic!("{c:?}")
    };
    // Kept as typed, in the configured zone once it runs (UTC by default).
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").unwrap();
    assert_eq!(
        t.resolve(now.into(), chrono_tz::Tz::UTC).to_rfc3339(),
        "2026-12-24T18:00:00+00:00"
    );
    assert_eq!(reason, "holidays");
}

#[test]
fn a_reason_may_contain_dashes_but_not_control_or_bidi_characters() {
    let Command::Locks(LockCommand::Lock { reason, .. }) =
        parse("lock prod 30m fix -- see --ticket 42").unwrap()
    else {
        panic!()
    };
    assert_eq!(reason, "fix -- see --ticket 42");
    let Command::Locks(LockCommand::Lock { reason, .. }) =
        parse("lock prod evil\u{202e}txt.exe\u{7}").unwrap()
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
    // `until` a date is checked when the freeze runs, against the configured zone (bad_input.rs).
    let e = parse("freeze qa 3200y").unwrap_err().to_string();
    assert!(e.contains("at most a year"), "{e}");
}

#[test]
fn a_list_where_one_env_is_taken_says_which_verbs_take_several() {
    for text in [
        "claim staging-1,staging-2",
        "status canary,qa",
        "release canary,qa",
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(
            e.contains("takes one env at a time; `lock`, `queue`, `extend`, `unlock` and `leave` take several"),
            "{text}: {e}"
        );
    }
    for (text, want) in [
        ("queue canary,qa 10m", "queue a,b"),
        ("leave canary,qa", "leave a,b"),
    ] {
        let c = parse(text).unwrap();
        assert!(
            matches!(
                (&c, want),
                (Command::Locks(LockCommand::QueueSet { .. }), "queue a,b")
                    | (Command::Locks(LockCommand::LeaveSet { .. }), "leave a,b")
            ),
            "{text}: {c:?}"
        );
    }
    assert!(parse("lock canary,qa 10m").is_ok());
}
