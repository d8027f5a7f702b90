//! The authorization table: every command variant, on a protected and an open env, against every
//! role. The roads (chat, buttons, console, `/api/v1/commands`, the CI API, GitHub) all reach
//! [`needs`] through `Baton::road`; the e2e suite checks each road refuses what this table does.

use std::collections::BTreeSet;
use std::time::Duration;

use super::needs;
use crate::ci_api::{
    Acquire, AcquireSet, CiCommand, Extend, ExtendSet, Gate, RecordDeploy, Release, ReleaseSet,
};
use crate::command::{
    AdminCommand, ClaimCommand, Command, FreezeCommand, LockCommand, Privilege, ReadCommand,
};
use crate::domain::{EnvName, Ttl};
use crate::grammar::{self, parse};

/// Each variant's name. Exhaustive with no catch-all: a new command fails to compile here until
/// it is named, and then the table below fails until it has a row.
fn variant(c: &Command) -> &'static str {
    match c {
        Command::Locks(l) => match l {
            LockCommand::Lock { .. } => "lock",
            LockCommand::Queue { .. } => "queue",
            LockCommand::Unlock { .. } => "unlock",
            LockCommand::Extend { .. } => "extend",
            LockCommand::Leave { .. } => "leave",
            LockCommand::LockSet { .. } => "lock a,b",
            LockCommand::UnlockSet { .. } => "unlock a,b",
            LockCommand::QueueSet { .. } => "queue a,b",
            LockCommand::Approve { .. } => "approve",
            LockCommand::Reject { .. } => "reject",
            LockCommand::LeaveSet { .. } => "leave a,b",
            LockCommand::ExtendSet { .. } => "extend a,b",
        },
        Command::Freezes(f) => match f {
            FreezeCommand::Freeze { .. } => "freeze",
            FreezeCommand::Unfreeze { .. } => "unfreeze",
        },
        Command::Claims(c) => match c {
            ClaimCommand::Claim { .. } => "claim",
            ClaimCommand::Release { .. } => "release",
        },
        Command::Reads(r) => match r {
            ReadCommand::Status { .. } => "status",
            ReadCommand::Freezes { .. } => "freezes",
            ReadCommand::History { .. } => "history",
        },
        Command::Help { .. } => "help",
        Command::Admin(a) => match a {
            AdminCommand::ForceUnlock { .. } => "unlock --force",
            AdminCommand::ForceRelease { .. } => "release --force",
            AdminCommand::Queues { .. } => "admin queues",
            AdminCommand::Queue { .. } => "admin queue",
            AdminCommand::Session { .. } => "admin session",
            AdminCommand::Kick { .. } => "admin kick",
            AdminCommand::RateLimit { .. } => "admin ratelimit",
            AdminCommand::RateLimitReset { .. } => "admin ratelimit reset",
            AdminCommand::Leaderboard { .. } => "admin leaderboard",
            AdminCommand::History { .. } => "admin history",
            AdminCommand::GithubApprove { .. } => "github approve",
            AdminCommand::GithubReject { .. } => "github reject",
            AdminCommand::SkipWindow { .. } => "freeze skip",
        },
        Command::Ci(ci) => match ci {
            CiCommand::Acquire(Acquire { wait: None, .. }) => "ci lock",
            CiCommand::Acquire(Acquire { wait: Some(_), .. }) => "ci lock --wait",
            CiCommand::Release(_) => "ci unlock",
            CiCommand::Extend(_) => "ci extend",
            CiCommand::Gate(_) => "ci gate",
            CiCommand::RecordDeploy(_) => "ci deploy",
            CiCommand::AcquireSet(_) => "ci lock set",
            CiCommand::ReleaseSet(_) => "ci unlock set",
            CiCommand::ExtendSet(_) => "ci extend set",
        },
    }
}

use Privilege::{Admin, Anyone, Deployer};

/// (how it is asked, with `ENV` for the env, what it needs on an open env, on a protected env).
/// Chat rows are typed as a person types them; `ci …` rows are the CI API's typed requests.
const TABLE: &[(&str, Privilege, Privilege)] = &[
    ("lock ENV 30m hotfix", Anyone, Deployer),
    ("queue ENV 30m", Anyone, Deployer),
    ("unlock ENV", Anyone, Anyone),
    ("extend ENV 30m", Anyone, Anyone),
    ("leave ENV", Anyone, Anyone),
    ("lock ENV,qa 30m release", Anyone, Deployer),
    ("unlock ENV,qa", Anyone, Anyone),
    ("extend ENV,qa 30m", Anyone, Anyone),
    ("freeze ENV 1h incident", Deployer, Deployer),
    ("unfreeze ENV", Deployer, Deployer),
    ("claim ENV 2h qa", Anyone, Deployer),
    ("release ENV", Anyone, Anyone),
    ("status ENV", Anyone, Anyone),
    ("freezes ENV", Anyone, Anyone),
    ("history ENV 5", Anyone, Anyone),
    ("help lock", Anyone, Anyone),
    ("unlock ENV --force", Admin, Admin),
    ("release ENV --force", Admin, Admin),
    ("admin queues", Admin, Admin),
    ("admin queue retry emails", Admin, Admin),
    ("admin session u1", Admin, Admin),
    ("admin kick u1", Admin, Admin),
    ("admin ratelimit login u1", Admin, Admin),
    ("admin ratelimit reset login u1", Admin, Admin),
    ("admin leaderboard weekly", Admin, Admin),
    ("admin history", Admin, Admin),
    ("github approve ENV org/app#12", Admin, Admin),
    ("github reject ENV org/app#12 not now", Admin, Admin),
    ("freeze skip weekend", Admin, Admin),
    ("ci lock", Anyone, Deployer),
    ("ci lock --wait", Anyone, Deployer),
    ("ci unlock", Anyone, Anyone),
    ("ci extend", Anyone, Anyone),
    ("ci gate", Anyone, Anyone),
    ("ci deploy", Anyone, Anyone),
    ("ci lock set", Anyone, Deployer),
    ("ci unlock set", Anyone, Anyone),
    ("ci extend set", Anyone, Anyone),
];

fn ci(asked: &str, env: &EnvName) -> Command {
    let env = env.clone();
    Command::Ci(match asked {
        "ci lock" | "ci lock --wait" => CiCommand::Acquire(Acquire {
            env,
            ttl: None,
            reason: String::new(),
            label: String::new(),
            wait: asked.ends_with("--wait").then(|| Duration::from_secs(60)),
            key: None,
        }),
        "ci unlock" => CiCommand::Release(Release {
            env,
            token: "t".into(),
            key: None,
        }),
        "ci extend" => CiCommand::Extend(Extend {
            env,
            token: "t".into(),
            by: Ttl::parse("10m").unwrap(),
            key: None,
        }),
        "ci gate" => CiCommand::Gate(Gate { env, token: None }),
        "ci deploy" => CiCommand::RecordDeploy(RecordDeploy {
            env,
            sha: "abc".into(),
            version: String::new(),
            url: String::new(),
            fence: None,
            key: None,
        }),
        "ci lock set" => CiCommand::AcquireSet(AcquireSet {
            envs: vec![EnvName::parse("qa").unwrap(), env],
            ttl: None,
            reason: String::new(),
            label: String::new(),
            wait: None,
            key: None,
        }),
        "ci extend set" => CiCommand::ExtendSet(ExtendSet {
            envs: vec![EnvName::parse("qa").unwrap(), env],
            token: "t".into(),
            by: Ttl::parse("10m").unwrap(),
        }),
        "ci unlock set" => CiCommand::ReleaseSet(ReleaseSet {
            envs: vec![EnvName::parse("qa").unwrap(), env],
            token: "t".into(),
            key: None,
        }),
        other => panic!("no CI request `{other}`"),
    })
}

fn command(asked: &str, env: &EnvName) -> Command {
    if asked.starts_with("ci ") {
        ci(asked, env)
    } else {
        parse(&asked.replace("ENV", env.as_str())).unwrap_or_else(|e| panic!("{asked}: {e}"))
    }
}

#[test]
fn every_command_on_every_env_needs_exactly_the_role_the_table_says_on_every_road() {
    let env = EnvName::parse("prod").unwrap();
    let mut covered = BTreeSet::new();
    for &(asked, open, protected) in TABLE {
        let c = command(asked, &env);
        covered.insert(variant(&c));
        let entry = grammar::entry(&c);
        for (is_protected, expected) in [(false, open), (true, protected)] {
            let needed = needs(&c, entry, |_| is_protected).map_or(Anyone, |(p, _)| p);
            assert_eq!(
                needed,
                expected,
                "`{asked}` on a {} env",
                if is_protected { "protected" } else { "open" }
            );
            for role in [Anyone, Deployer, Admin] {
                let allowed = needs(&c, entry, |_| is_protected).is_none_or(|(p, _)| role >= p);
                assert_eq!(allowed, role >= expected, "`{asked}` as {role:?}");
            }
        }
    }
    let all: BTreeSet<&str> = TABLE
        .iter()
        .map(|(asked, ..)| variant(&command(asked, &env)))
        .collect();
    assert_eq!(covered, all);
    assert_eq!(covered.len(), TABLE.len(), "one row per variant");
}

#[test]
fn a_refusal_names_what_was_needed_and_why() {
    let env = EnvName::parse("prod").unwrap();
    let lock = ci("ci lock", &env);
    let (_, what) = needs(&lock, None, |_| true).unwrap();
    assert_eq!(what, "prod is protected: taking it");
    let freeze = command("freeze ENV 1h x", &env);
    let (p, what) = needs(&freeze, grammar::entry(&freeze), |_| true).unwrap();
    assert_eq!((p, what.is_empty()), (Deployer, false));
    let force = command("unlock ENV --force", &env);
    let (_, what) = needs(&force, grammar::entry(&force), |_| true).unwrap();
    assert_eq!(what, "`--force`");
}
