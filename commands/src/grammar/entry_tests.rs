//! Every entry of the table, checked by value: representative text builds exactly the expected
//! [`Command`] (not just "it parses"), and the router finds that same entry again from it.

use super::*;
use crate::command::{
    AdminArg, AdminCommand, ClaimCommand, Command, FreezeCommand, FreezeSpan, LockCommand,
    QueueAction, ReadCommand, Scope,
};
use crate::domain::{EnvName, Ttl};
use crate::Touches;

fn env(name: &str) -> EnvName {
    EnvName::parse(name).unwrap()
}

fn ttl(text: &str) -> Ttl {
    Ttl::parse(text).unwrap()
}

fn arg(text: &str) -> AdminArg {
    AdminArg::parse(text).unwrap()
}

fn admin(command: AdminCommand) -> Command {
    Command::Admin(command)
}

/// (entry, what the case shows, text typed, the command it must build).
fn cases() -> Vec<(&'static str, &'static str, &'static str, Command)> {
    let lock = |reason: &str, t: Option<Ttl>| {
        Command::Locks(LockCommand::Lock {
            env: env("prod"),
            ttl: t,
            reason: reason.into(),
        })
    };
    vec![
        (
            "lock",
            "env, duration and reason",
            "lock prod 30m hotfix for login",
            lock("hotfix for login", Some(ttl("30m"))),
        ),
        ("lock", "the env alone", "lock prod", lock("", None)),
        (
            "lock",
            "a reason without a duration",
            "lock prod deploying 4.2",
            lock("deploying 4.2", None),
        ),
        (
            "unlock",
            "one's own lock",
            "unlock prod",
            Command::Locks(LockCommand::Unlock { env: env("prod") }),
        ),
        (
            "unlock",
            "--force is an admin command",
            "unlock prod --force",
            admin(AdminCommand::ForceUnlock { env: env("prod") }),
        ),
        (
            "extend",
            "by a duration",
            "extend prod 30m",
            Command::Locks(LockCommand::Extend {
                env: env("prod"),
                by: ttl("30m"),
            }),
        ),
        (
            "approve",
            "the oldest request not one's own",
            "approve prod",
            Command::Locks(LockCommand::Approve {
                env: env("prod"),
                request: None,
            }),
        ),
        (
            "approve",
            "a request by its id, as the button names it",
            "approve prod #3f9a1c",
            Command::Locks(LockCommand::Approve {
                env: env("prod"),
                request: Some("3f9a1c".into()),
            }),
        ),
        (
            "reject",
            "a request by its id, with why",
            "reject prod #3f9a1c wrong build",
            Command::Locks(LockCommand::Reject {
                env: env("prod"),
                request: Some("3f9a1c".into()),
                reason: "wrong build".into(),
            }),
        ),
        (
            "reject",
            "the oldest, with why",
            "reject prod not now",
            Command::Locks(LockCommand::Reject {
                env: env("prod"),
                request: None,
                reason: "not now".into(),
            }),
        ),
        (
            "queue",
            "env, duration and reason",
            "queue prod 20m release 4.2",
            Command::Locks(LockCommand::Queue {
                env: env("prod"),
                ttl: Some(ttl("20m")),
                reason: "release 4.2".into(),
            }),
        ),
        (
            "queue",
            "the env alone",
            "queue qa",
            Command::Locks(LockCommand::Queue {
                env: env("qa"),
                ttl: None,
                reason: String::new(),
            }),
        ),
        (
            "leave",
            "an env's queue",
            "leave prod",
            Command::Locks(LockCommand::Leave { env: env("prod") }),
        ),
        (
            "status",
            "everything",
            "status",
            Command::Reads(ReadCommand::Status { target: None }),
        ),
        (
            "status",
            "one env or pool",
            "status staging",
            Command::Reads(ReadCommand::Status {
                target: Some(env("staging")),
            }),
        ),
        (
            "claim",
            "a pool, a duration and a note",
            "claim staging 3h testing payments",
            Command::Claims(ClaimCommand::Claim {
                target: env("staging"),
                count: 1,
                ttl: Some(ttl("3h")),
                note: "testing payments".into(),
            }),
        ),
        (
            "claim",
            "several envs of a pool",
            "claim staging 2 4h load test",
            Command::Claims(ClaimCommand::Claim {
                target: env("staging"),
                count: 2,
                ttl: Some(ttl("4h")),
                note: "load test".into(),
            }),
        ),
        (
            "claim",
            "one env",
            "claim staging-2",
            Command::Claims(ClaimCommand::Claim {
                target: env("staging-2"),
                count: 1,
                ttl: None,
                note: String::new(),
            }),
        ),
        (
            "release",
            "one's own claim",
            "release staging-2",
            Command::Claims(ClaimCommand::Release {
                env: env("staging-2"),
            }),
        ),
        (
            "release",
            "--force before the env is an admin command",
            "release --force staging-2",
            admin(AdminCommand::ForceRelease {
                env: env("staging-2"),
            }),
        ),
        (
            "history",
            "ten entries by default",
            "history prod",
            Command::Reads(ReadCommand::History {
                env: env("prod"),
                count: 10,
            }),
        ),
        (
            "history",
            "a count",
            "history prod 25",
            Command::Reads(ReadCommand::History {
                env: env("prod"),
                count: 25,
            }),
        ),
        (
            "freeze",
            "one env for a while, with a reason",
            "freeze prod 2h incident 4711",
            Command::Freezes(FreezeCommand::Freeze {
                scope: Scope::Env(env("prod")),
                span: FreezeSpan::For(ttl("2h")),
                reason: "incident 4711".into(),
            }),
        ),
        (
            "freeze",
            "all until lifted",
            "freeze all",
            Command::Freezes(FreezeCommand::Freeze {
                scope: Scope::All,
                span: FreezeSpan::UntilLifted,
                reason: String::new(),
            }),
        ),
        (
            "freeze skip",
            "a window, once, with a reason",
            "freeze skip weekend once hotfix for login",
            Command::Admin(AdminCommand::SkipWindow {
                window: AdminArg::parse("weekend").unwrap(),
                reason: "hotfix for login".into(),
            }),
        ),
        (
            "freeze skip",
            "a window, without `once` or a reason",
            "freeze skip year-end",
            Command::Admin(AdminCommand::SkipWindow {
                window: AdminArg::parse("year-end").unwrap(),
                reason: String::new(),
            }),
        ),
        (
            "github approve",
            "a run by its full name",
            "github approve prod acme/api#123",
            Command::Admin(AdminCommand::GithubApprove {
                env: env("prod"),
                run: AdminArg::parse("acme/api#123").unwrap(),
            }),
        ),
        (
            "github reject",
            "a run by its id, with a reason",
            "github reject prod 123 not during the incident",
            Command::Admin(AdminCommand::GithubReject {
                env: env("prod"),
                run: AdminArg::parse("123").unwrap(),
                reason: "not during the incident".into(),
            }),
        ),
        (
            "freezes",
            "every env",
            "freezes",
            Command::Reads(ReadCommand::Freezes { target: None }),
        ),
        (
            "freezes",
            "one env",
            "freezes prod",
            Command::Reads(ReadCommand::Freezes {
                target: Some(env("prod")),
            }),
        ),
        (
            "unfreeze",
            "all",
            "unfreeze all",
            Command::Freezes(FreezeCommand::Unfreeze { scope: Scope::All }),
        ),
        (
            "unfreeze",
            "one env",
            "unfreeze qa",
            Command::Freezes(FreezeCommand::Unfreeze {
                scope: Scope::Env(env("qa")),
            }),
        ),
        (
            "admin queues",
            "every queue",
            "admin queues",
            admin(AdminCommand::Queues { queue: None }),
        ),
        (
            "admin queues",
            "one queue",
            "admin queues emails",
            admin(AdminCommand::Queues {
                queue: Some(arg("emails")),
            }),
        ),
        (
            "admin queue",
            "retry",
            "admin queue retry emails",
            admin(AdminCommand::Queue {
                action: QueueAction::Retry,
                queue: arg("emails"),
            }),
        ),
        (
            "admin queue",
            "pause",
            "admin queue pause emails",
            admin(AdminCommand::Queue {
                action: QueueAction::Pause,
                queue: arg("emails"),
            }),
        ),
        (
            "admin queue",
            "resume, in any case",
            "admin queue RESUME emails",
            admin(AdminCommand::Queue {
                action: QueueAction::Resume,
                queue: arg("emails"),
            }),
        ),
        (
            "admin session",
            "a user",
            "admin session alice",
            admin(AdminCommand::Session { user: arg("alice") }),
        ),
        (
            "admin kick",
            "a user",
            "admin kick alice",
            admin(AdminCommand::Kick { user: arg("alice") }),
        ),
        (
            "admin ratelimit",
            "a limiter and an identity",
            "admin ratelimit otp alice@example.com",
            admin(AdminCommand::RateLimit {
                limiter: arg("otp"),
                id: arg("alice@example.com"),
            }),
        ),
        (
            "admin ratelimit reset",
            "the longest verb wins",
            "admin ratelimit reset otp alice@example.com",
            admin(AdminCommand::RateLimitReset {
                limiter: arg("otp"),
                id: arg("alice@example.com"),
            }),
        ),
        (
            "admin leaderboard",
            "the top by default",
            "admin leaderboard weekly",
            admin(AdminCommand::Leaderboard {
                board: arg("weekly"),
                top: None,
                around: None,
            }),
        ),
        (
            "admin leaderboard",
            "top n",
            "admin leaderboard weekly top 25",
            admin(AdminCommand::Leaderboard {
                board: arg("weekly"),
                top: Some(25),
                around: None,
            }),
        ),
        (
            "admin leaderboard",
            "around a member",
            "admin leaderboard weekly around alice",
            admin(AdminCommand::Leaderboard {
                board: arg("weekly"),
                top: None,
                around: Some(arg("alice")),
            }),
        ),
        (
            "admin history",
            "ten entries by default",
            "admin history",
            admin(AdminCommand::History { count: 10 }),
        ),
        (
            "admin history",
            "a count",
            "admin history 25",
            admin(AdminCommand::History { count: 25 }),
        ),
        ("help", "everything", "help", Command::Help { topic: None }),
        ("help", "empty text", "", Command::Help { topic: None }),
        (
            "help",
            "one verb",
            "help lock",
            Command::Help {
                topic: Some("lock".into()),
            },
        ),
        (
            "help",
            "a family",
            "help admin",
            Command::Help {
                topic: Some("admin".into()),
            },
        ),
    ]
}

#[test]
fn every_entry_builds_exactly_its_command_and_is_found_again_from_it() {
    let cases = cases();
    for v in VERBS {
        assert!(
            cases.iter().any(|(name, ..)| *name == v.name),
            "`{}` has no case here: add one",
            v.name
        );
    }
    for (name, what, text, expected) in cases {
        let built = parse(text).unwrap_or_else(|e| panic!("{name}, {what}: `{text}`: {e}"));
        assert_eq!(built, expected, "{name}, {what}: `{text}`");
        assert_eq!(verb_in(text).map(|v| v.name), Some(name), "{name}, {what}");
        let owners: Vec<&str> = VERBS
            .iter()
            .filter(|v| (v.owns)(&built))
            .map(|v| v.name)
            .collect();
        assert_eq!(owners, [name], "{name}, {what}: exactly one entry owns it");
    }
}

#[test]
fn every_example_belongs_to_its_entry_with_the_entrys_privilege_and_visibility() {
    for v in VERBS {
        for example in v.examples {
            let command = parse(example).unwrap();
            assert_eq!(entry(&command).map(|e| e.name), Some(v.name), "{example}");
            if v.privilege == Privilege::Admin {
                assert!(
                    matches!(command, Command::Admin(_)),
                    "{example}: admin by type"
                );
            }
            let touches = command.touches() != Touches::Nothing;
            assert_eq!(touches, v.changes_state, "{example}: changes state");
        }
        assert_eq!(
            v.refused_as.is_some(),
            v.privilege == Privilege::Deployer,
            "{}: a refusal names every deployer verb",
            v.name
        );
    }
}

#[test]
fn the_ci_apis_commands_have_no_chat_entry() {
    let gate = Command::Ci(crate::CiCommand::Gate(crate::ci_api::Gate {
        env: env("prod"),
        token: None,
    }));
    assert!(entry(&gate).is_none());
}
