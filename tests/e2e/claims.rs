//! Staging claims: a pool hands out distinct members under contention, a claim belongs to its
//! claimer until it is released, extended or forced, and TTLs follow the pool's settings.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use baton_commands::reply::{Reply, ReplyData, Value};
use baton_commands::store::audit::Kind;
use baton_commands::Hold;
use baton_commands::HoldKind;
use baton_commands::{Actor, BatonError};

use crate::support::spawn_core;

/// The env and hold a `claim` granted.
fn grant(reply: &Reply) -> (String, Hold) {
    match &reply.data {
        Some(ReplyData::Grant {
            env, kind, hold, ..
        }) => {
            assert_eq!(kind, "claim", "{}", reply.title);
            (env.clone(), hold.clone())
        }
        other => panic!("`{}` carries no grant: {other:?}", reply.title),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_users_claiming_the_staging_pool_at_once_get_three_distinct_envs() {
    let app = spawn_core().await;
    let tasks: Vec<_> = (1..=5)
        .map(|i| {
            let baton = app.baton.clone();
            let user = format!("u{i}");
            tokio::spawn(async move {
                let result = baton
                    .run_text(Actor::console(&user), "claim staging 1h")
                    .await;
                (user, result)
            })
        })
        .collect();

    let mut granted = BTreeSet::new();
    let mut full = Vec::new();
    for task in tasks {
        match task.await.expect("no panic") {
            (user, Ok(reply)) => {
                let (env, hold) = grant(&reply);
                assert_eq!(hold.display, user);
                assert!(granted.insert(env.clone()), "{env} was handed out twice");
            }
            (_, Err((e, _))) => full.push(e),
        }
    }
    let expected: BTreeSet<String> = ["staging-1", "staging-2", "staging-3"]
        .map(String::from)
        .into();
    assert_eq!(granted, expected);
    assert_eq!(full.len(), 2, "{full:?}");
    for e in full {
        let BatonError::PoolFull { pool, soonest, .. } = &e else {
            panic!("expected PoolFull, got {e:?}")
        };
        assert_eq!(pool, "staging");
        let (env, hold) = soonest.as_deref().expect("the claim that ends first");
        assert!(granted.contains(env), "{env}");
        let said = e.to_string();
        assert!(
            said.contains("every env in pool staging is claimed"),
            "{said}"
        );
        assert!(
            said.contains(&format!(
                "the first to free up is {env}, claimed by {}",
                hold.display
            )),
            "{said}"
        );
        assert!(
            said.contains("(in 1h)") || said.contains("(in 59m"),
            "{said}"
        );
    }
}

#[tokio::test]
async fn a_claim_is_the_claimers_until_they_release_it_and_history_shows_both() {
    let app = spawn_core().await;
    let (env, first) = grant(&app.ok("alice", "claim staging-1 2h testing payments").await);
    assert_eq!(env, "staging-1");

    let taken = app.refused("bob", "claim staging-1").await;
    match &taken {
        BatonError::Held {
            env,
            kind: HoldKind::Claim,
            hold,
            ..
        } => {
            assert_eq!(
                (env.as_str(), hold.display.as_str()),
                ("staging-1", "alice")
            );
        }
        other => panic!("expected Held by alice, got {other:?}"),
    }
    assert!(
        taken
            .to_string()
            .contains("staging-1 is claimed by alice since"),
        "{taken}"
    );
    assert!(taken.to_string().contains(": testing payments"), "{taken}");

    let twice = app.refused("alice", "claim staging").await;
    assert!(matches!(twice, BatonError::Refused(_)), "{twice:?}");
    assert!(
        twice
            .to_string()
            .contains("you already hold staging-1 until"),
        "{twice}"
    );
    assert!(
        twice
            .to_string()
            .contains("`release staging-1` gives it back"),
        "{twice}"
    );

    let extended = app.ok("alice", "extend staging-1 1h").await;
    assert!(
        extended
            .title
            .contains("alice extended their claim on staging-1 by 1h"),
        "{}",
        extended.title
    );
    let expires = extended
        .fields
        .iter()
        .find(|f| f.name == "Expires")
        .map(|f| &f.value);
    assert_eq!(expires, Some(&Value::Time(first.expires + 3_600_000)));
    let status = app.ok("bob", "status staging-1").await;
    let Some(ReplyData::Envs { envs }) = &status.data else {
        panic!("env states")
    };
    let claim = envs[0].claim.as_ref().expect("still claimed");
    assert_eq!(
        (claim.display.as_str(), claim.expires),
        ("alice", first.expires + 3_600_000)
    );
    assert_eq!(claim.fence, first.fence, "an extension is the same claim");

    let released = app.ok("alice", "release staging-1").await;
    assert_eq!(released.title, "alice released staging-1");
    let history = app
        .ok("bob", "history staging-1")
        .await
        .text
        .expect("entries");
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].contains("released by alice (terminal console): testing payments"),
        "{history}"
    );
    assert!(
        lines[1].contains("claim of alice (terminal console) extended"),
        "{history}"
    );
    assert!(
        lines[2].contains("claimed by alice (terminal console): testing payments"),
        "{history}"
    );
    app.ok("bob", "claim staging-1").await;
}

#[tokio::test]
async fn an_admin_can_force_release_someone_elses_claim_and_is_named_with_the_holder() {
    let app = spawn_core().await;
    app.ok("bob", "claim staging-1 3h load test").await;
    let forced = app.ok("admin", "release staging-1 --force").await;
    assert_eq!(forced.title, "admin force-released staging-1, held by bob");
    let history = app
        .ok("bob", "history staging-1")
        .await
        .text
        .expect("entries");
    assert!(
        history
            .lines()
            .next()
            .unwrap()
            .contains("force-released by admin (terminal console), claimed by bob"),
        "{history}"
    );
    let (env, _) = grant(&app.ok("carol", "claim staging").await);
    assert_eq!(env, "staging-1", "the first member is free again");
}

#[tokio::test]
async fn a_pool_claim_without_a_duration_gets_the_pools_two_hour_default() {
    let app = spawn_core().await;
    let reply = app.ok("carol", "claim staging").await;
    let (_, hold) = grant(&reply);
    let two_hours: u64 = 2 * 3600 * 1000;
    assert!(
        hold.expires.abs_diff(hold.since + two_hours) <= 5_000,
        "{hold:?}"
    );
    assert!(
        hold.since.abs_diff(now_ms()) <= 5_000,
        "since is now: {hold:?}"
    );
    assert!(
        reply.title.ends_with("from pool staging for 2h"),
        "{}",
        reply.title
    );
}

#[tokio::test]
async fn a_claim_longer_than_the_pool_allows_is_refused_without_change() {
    let app = spawn_core().await;
    app.ok("bob", "claim staging-2 1h").await;
    let before = app.snapshot().await;
    let e = app.refused("carol", "claim staging 9h").await;
    assert!(matches!(e, BatonError::Usage { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("9h is longer than staging allows (at most 8h)"),
        "{e}"
    );
    assert_eq!(before, app.snapshot().await);
    app.ok("carol", "claim staging 8h").await;
}

#[tokio::test]
async fn a_freeze_covers_claims_as_it_covers_locks_and_an_admin_may_claim_over_it_on_the_record() {
    let app = spawn_core().await;
    app.ok("admin", "freeze staging-1 1h release week").await;
    // A frozen env is refused by name, with the freeze and its end.
    let refused = app.refused("alice", "claim staging-1 1h qa").await;
    assert!(
        matches!(&refused, BatonError::Frozen { env, .. } if env == "staging-1"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("release week"), "{refused}");
    // The pool hands out a member that is not frozen.
    let (env, _) = grant(&app.ok("alice", "claim staging 1h qa").await);
    assert_ne!(env, "staging-1");
    // With every free member frozen, the pool says so rather than "full".
    app.ok("admin", "freeze all 1h everything").await;
    let refused = app.refused("bob", "claim staging 1h").await;
    assert!(matches!(refused, BatonError::Frozen { .. }), "{refused:?}");
    // An admin may, and the history says it was over the freeze.
    let (env, _) = grant(&app.ok("admin", "claim staging-1 1h hotfix check").await);
    assert_eq!(env, "staging-1");
    let over = app
        .events("staging", "staging-1")
        .await
        .into_iter()
        .any(|e| e.kind == baton_commands::store::audit::Kind::Claimed && e.over_freeze);
    assert!(over, "the claim over the freeze is recorded as such");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claiming_two_of_a_pool_takes_two_distinct_members_or_none_and_never_hands_out_four() {
    let app = spawn_core().await;
    // Two instances of the core on the one Redis, eight people each asking for two of three.
    let other = baton::app::build(&app.config).unwrap();
    let tasks: Vec<_> = (1..=8)
        .map(|i| {
            let baton = if i % 2 == 0 {
                app.baton.clone()
            } else {
                other.clone()
            };
            let user = format!("u{i}");
            tokio::spawn(async move {
                let result = baton
                    .run_text(Actor::console(&user), "claim staging 2 1h load test")
                    .await;
                (user, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("no panic") {
            (user, Ok(reply)) => winners.push((user, reply)),
            (_, Err((e, _))) => {
                assert!(matches!(e, BatonError::PoolFull { .. }), "{e}");
                assert!(
                    e.to_string()
                        .contains("only 1 of pool staging's envs is free and you asked for 2; nothing was claimed"),
                    "{e}"
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of eight got two members");
    let (user, reply) = &winners[0];
    assert!(
        reply.title.starts_with(&format!("{user} claimed staging-")),
        "{}",
        reply.title
    );
    assert!(reply.title.contains(" and staging-"), "{}", reply.title);
    let releases: Vec<&str> = reply.buttons.iter().map(|b| b.command.as_str()).collect();
    assert_eq!(releases.len(), 2, "{releases:?}");

    // The state, read after: two members held by the winner, one free; nobody else holds any.
    let status = app.ok("admin", "status staging").await;
    let rows = status.table.expect("a table").rows;
    let held: Vec<String> = rows
        .iter()
        .filter(|row| {
            row.iter()
                .any(|v| v.plain(0).starts_with(&format!("{user} (")))
        })
        .map(|row| row[0].plain(0))
        .collect();
    assert_eq!(held.len(), 2, "{rows:?}");
    let distinct: BTreeSet<&String> = held.iter().collect();
    assert_eq!(distinct.len(), 2);
    for r in &releases {
        assert!(
            held.iter().any(|env| r.ends_with(env.as_str())),
            "{r} in {held:?}"
        );
    }

    // Each member has its own history entry and fence.
    for env in &held {
        let events = app.events("staging", env).await;
        assert_eq!(
            events.iter().filter(|e| e.kind == Kind::Claimed).count(),
            1,
            "{env}: {events:?}"
        );
    }

    // One free member left: a second person asking for two gets none, and the free one stays free.
    let refused = app.refused("u9", "claim staging 2").await;
    assert!(matches!(refused, BatonError::PoolFull { .. }), "{refused}");
    let one = app.ok("u9", "claim staging").await;
    assert_eq!(
        grant(&one).1.display,
        "u9",
        "the free member was still free"
    );

    // More than the pool has is a usage mistake, said before anything is tried.
    let e = app.refused("u10", "claim staging 4").await;
    assert!(
        e.to_string()
            .contains("pool staging has 3 envs, so you cannot claim 4"),
        "{e}"
    );
}

#[tokio::test]
async fn a_pipeline_claims_two_of_a_pool_through_the_ci_api_or_none() {
    let mut app = spawn_core().await;
    app.start_instance().await;
    let claim = |token: &str| {
        crate::support::TestApp::http(token)
            .post(app.url("/api/v1/commands"))
            .json(&serde_json::json!({"text": "claim staging 2 4h load test"}))
            .send()
    };
    let first = claim(crate::support::TOKEN_STAGING).await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let body: serde_json::Value = first.json().await.unwrap();
    let title = body["reply"]["title"].as_str().unwrap();
    assert!(
        title.starts_with("ci:staging claimed staging-") && title.contains(" and staging-"),
        "{title}"
    );
    // One member is left: another pipeline asking for two takes nothing, and hears why.
    let second = claim(crate::support::TOKEN_ALL).await.unwrap();
    assert_eq!(second.status().as_u16(), 423);
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["error"], "pool_full");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("only 1 of pool staging's envs is free and you asked for 2"),
        "{body}"
    );
    let one = app.ok("u9", "claim staging").await;
    assert_eq!(grant(&one).1.display, "u9", "the free member stayed free");
}
