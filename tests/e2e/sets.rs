//! Several envs as one (`lock a,b`): all of them or none, in one atomic step, each env with its
//! own fence and history; a refusal names every env in the way and takes nothing; racing sets
//! and single locks over two instances never overlap and never leave a set half taken.

use std::collections::BTreeMap;

use baton_commands::reply::{ReplyData, Value};
use baton_commands::store::audit::{Event, Kind};
use baton_commands::{Actor, BatonError};

use crate::monitor::Monitor;
use crate::support::{spawn_core, TestApp};

async fn holder_of(app: &TestApp, env: &str) -> Option<String> {
    let reply = app.ok("admin", "status").await;
    let rows = reply.table.expect("status has a table").rows;
    let row = rows.iter().find(|r| r[0] == Value::Text(env.into()))?;
    let lock = row[1].plain(0);
    (lock != "free").then_some(lock)
}

#[tokio::test]
async fn a_set_is_refused_naming_every_blocker_and_takes_nothing_then_taken_whole_in_one_call() {
    let app = spawn_core().await;
    app.ok("bob", "lock qa 20m migrating the schema").await;
    app.ok("carol", "queue qa 10m").await;

    let refused = app.refused("alice", "lock canary,qa 30m release 4.2").await;
    let text = refused.to_string();
    assert!(matches!(refused, BatonError::Refused(_)), "{text}");
    assert!(
        text.starts_with("nothing was locked: qa is locked by bob until"),
        "{text}"
    );
    assert!(text.contains("1 waiting: migrating the schema"), "{text}");
    assert_eq!(
        holder_of(&app, "canary").await,
        None,
        "canary is still free"
    );

    // Frozen and held at once: both are named.
    app.ok("admin", "freeze canary 1h incident").await;
    let text = app.refused("alice", "lock canary,qa").await.to_string();
    assert!(text.contains("canary is frozen by admin"), "{text}");
    assert!(text.contains("qa is locked by bob"), "{text}");
    app.ok("admin", "unfreeze canary").await;

    app.ok("bob", "unlock qa").await;
    app.ok("carol", "unlock qa").await;
    let mut monitor = Monitor::start(&app).await;
    monitor.mark(&app).await;
    let reply = app.ok("alice", "lock canary,qa 30m release 4.2").await;
    let seen = monitor.mark(&app).await;
    let seen: Vec<_> = seen.into_iter().filter(|c| c != "INFO").collect();
    assert_eq!(seen, ["FCALL"], "one round trip: {seen:?}");
    assert_eq!(reply.title, "alice locked canary and qa for 30m");
    let fences: Vec<&str> = reply
        .fields
        .iter()
        .filter(|f| f.name == "canary" || f.name == "qa")
        .map(|f| match &f.value {
            Value::Text(t) => t.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fences.len(), 2, "{:?}", reply.fields);
    assert!(matches!(reply.data, Some(ReplyData::Grant { .. })));
    assert_eq!(reply.buttons[0].command, "unlock canary,qa");
    for env in ["canary", "qa"] {
        let held = holder_of(&app, env).await.expect("held");
        assert!(held.starts_with("alice"), "{env}: {held}");
        let events = app.events(env, env).await;
        let last = events.last().unwrap();
        assert_eq!(
            (last.kind, last.holder.as_str()),
            (Kind::Locked, "console:alice")
        );
    }
    let qa_fence = app.events("qa", "qa").await.last().unwrap().fence;
    assert!(
        qa_fence > 1,
        "qa's own fence went on from bob's and carol's: {qa_fence}"
    );

    // Someone else's set unlock takes nothing; the holder's gives both back in one call.
    let text = app.refused("bob", "unlock canary,qa").await.to_string();
    assert!(
        text.starts_with("nothing was unlocked: canary is locked by alice, not by you"),
        "{text}"
    );
    assert!(holder_of(&app, "qa").await.is_some());
    app.ok("bob", "queue qa 10m after alice").await;
    let reply = app.ok("alice", "extend canary,qa 5m").await;
    assert_eq!(
        reply.title,
        "alice extended their locks on canary and qa by 5m"
    );
    let text = app
        .refused("alice", "extend canary,qa 2h")
        .await
        .to_string();
    assert!(
        text.starts_with("nothing was extended: canary may have at most"),
        "{text}"
    );
    let reply = app.ok("alice", "unlock canary,qa").await;
    assert_eq!(reply.title, "alice unlocked canary and qa");
    assert_eq!(holder_of(&app, "canary").await, None);
    assert!(
        holder_of(&app, "qa").await.unwrap().starts_with("bob"),
        "qa went to the next in line"
    );

    // Mistakes are said before anything is tried.
    let text = app.refused("alice", "lock canary,canary").await.to_string();
    assert!(text.contains("`canary` is named twice"), "{text}");
    let text = app.refused("alice", "lock canary,nope").await.to_string();
    assert!(text.contains("nope"), "{text}");
    let text = app.refused("alice", "lock canary,qa 2h").await.to_string();
    assert!(text.contains("longer than canary and qa allow"), "{text}");
    let text = app
        .refused("admin", "unlock canary,qa --force")
        .await
        .to_string();
    assert!(text.contains("one env at a time"), "{text}");
}

#[tokio::test]
async fn a_protected_env_in_a_set_needs_a_deployer() {
    let app = spawn_core().await;
    let e = app.refused("mallory", "lock canary,prod 10m").await;
    assert!(matches!(e, BatonError::Forbidden(_)), "{e}");
    assert!(e.to_string().contains("prod is protected"), "{e}");
    assert_eq!(holder_of(&app, "canary").await, None);
    app.ok("alice", "lock canary,prod 10m").await;
}

/// One env's lock history in order: each `locked` or hand-off starts a hold, and the next one
/// must not start before the hold ended; fences only grow.
fn check_env(env: &str, events: &[Event]) -> usize {
    let mut held: Option<&str> = None;
    let mut last_fence = 0;
    let mut grants = 0;
    for e in events {
        match e.kind {
            Kind::Locked | Kind::HandedOff => {
                assert!(
                    held.is_none(),
                    "{env}: {} got it while {held:?} held it",
                    e.holder
                );
                assert!(
                    e.fence > last_fence,
                    "{env}: fence {} after {last_fence}",
                    e.fence
                );
                last_fence = e.fence;
                held = Some(e.holder.as_str());
                grants += 1;
            }
            Kind::Unlocked | Kind::ForceUnlocked | Kind::LockExpired => {
                assert!(held.is_some(), "{env}: {:?} of nothing", e.kind);
                held = None;
            }
            _ => {}
        }
    }
    grants
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sets_and_single_locks_over_two_instances_never_overlap_or_half_take_a_set() {
    let app = spawn_core().await;
    let other = baton::app::build(&app.config).unwrap();
    let choices = [
        "canary,qa",
        "qa,staging-1",
        "canary",
        "qa",
        "staging-1,canary",
        "staging-1",
    ];
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let baton = if i % 2 == 0 {
                app.baton.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let me = Actor::console(&format!("racer{i}"));
                let mut taken = Vec::new();
                for round in 0..25 {
                    let envs = choices[(i + round * 7) % choices.len()];
                    if baton
                        .run_text(me.clone(), &format!("lock {envs} 5m"))
                        .await
                        .is_ok()
                    {
                        taken.push(envs);
                        tokio::task::yield_now().await;
                        let back = baton.run_text(me.clone(), &format!("unlock {envs}")).await;
                        assert!(back.is_ok(), "{envs}: {back:?}");
                    }
                }
                taken
            })
        })
        .collect();
    let mut sets_taken = 0;
    for t in tasks {
        sets_taken += t.await.unwrap().iter().filter(|e| e.contains(',')).count();
    }
    assert!(sets_taken > 0, "some sets were taken");

    let mut by_time: BTreeMap<(u64, String), Vec<String>> = BTreeMap::new();
    for env in ["canary", "qa", "staging-1"] {
        let group = if env == "staging-1" { "staging" } else { env };
        let events = app.events(group, env).await;
        assert!(check_env(env, &events) > 0, "{env} was taken");
        for e in events.iter().filter(|e| e.kind == Kind::Locked) {
            by_time
                .entry((e.at, e.holder.clone()))
                .or_default()
                .push(env.into());
        }
    }
    // A set's envs were all locked by one step: at one time, by one holder. No env of a set
    // was ever taken alone by a set's request (a single lock takes one env).
    let together: usize = by_time.values().filter(|envs| envs.len() >= 2).count();
    assert!(
        together >= sets_taken,
        "{together} joint grants for {sets_taken} sets taken"
    );
}

#[tokio::test]
async fn a_group_is_locked_and_unlocked_by_its_name_and_a_scoped_token_must_cover_every_env() {
    let mut app = crate::support::spawn_core_with(|c| {
        c.groups.push(baton_commands::config::GroupConfig {
            name: baton_commands::domain::EnvName::parse("train").unwrap(),
            envs: ["canary", "qa"]
                .iter()
                .map(|e| baton_commands::domain::EnvName::parse(e).unwrap())
                .collect(),
        });
    })
    .await;
    let reply = app.ok("alice", "lock train 10m release 4.2").await;
    assert_eq!(reply.title, "alice locked canary and qa for 10m");
    assert!(holder_of(&app, "canary")
        .await
        .unwrap()
        .starts_with("alice"));
    assert!(holder_of(&app, "qa").await.unwrap().starts_with("alice"));
    let text = app.refused("bob", "lock train").await.to_string();
    assert!(
        text.contains("canary is locked by alice") && text.contains("qa is locked by alice"),
        "{text}"
    );
    let reply = app.ok("alice", "unlock train").await;
    assert_eq!(reply.title, "alice unlocked canary and qa");
    assert_eq!(holder_of(&app, "qa").await, None);

    // The CI token `staging` covers staging-* and qa, not canary: the group is refused whole.
    app.start_instance().await;
    let http = TestApp::http(crate::support::TOKEN_STAGING);
    let answer = http
        .post(app.url("/api/v1/commands"))
        .json(&serde_json::json!({"text": "lock train 10m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("`canary`"),
        "{body}"
    );
    assert_eq!(holder_of(&app, "qa").await, None, "nothing was taken");

    // A group's name in a set request's `envs` stands for its envs, as in chat.
    let all = TestApp::http(crate::support::TOKEN_ALL);
    let answer = all
        .post(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["train", "staging-1"], "ttl": "10m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let grant: serde_json::Value = answer.json().await.unwrap();
    let envs: Vec<&str> = grant["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["env"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["canary", "qa", "staging-1"]);
    // Scoped tokens are checked against every env the group stands for.
    let answer = http
        .post(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["train", "staging-2"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
}

#[tokio::test]
async fn a_pipeline_takes_a_set_under_one_token_retries_safely_and_gives_it_back_whole() {
    let mut app = spawn_core().await;
    app.start_instance().await;
    let http = TestApp::http(crate::support::TOKEN_ALL);
    let set = serde_json::json!({"envs": ["canary", "qa"], "ttl": "10m", "reason": "release 4.2", "holder": "deploy #7"});
    let take = || {
        http.post(app.url("/api/v1/locks"))
            .header("Idempotency-Key", "release-4.2-attempt")
            .json(&set)
            .send()
    };
    let first = take().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let granted: serde_json::Value = first.json().await.unwrap();
    let token = granted["token"].as_str().unwrap().to_string();
    assert_eq!(granted["holder"], "deploy #7");
    let envs: Vec<&str> = granted["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["env"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["canary", "qa"]);
    assert!(granted["locks"][0]["fence"].as_u64().unwrap() >= 1);

    // A retry whose answer was lost gets the same grant, not a second one.
    let again: serde_json::Value = take().await.unwrap().json().await.unwrap();
    assert_eq!(again["token"], token.as_str());
    assert_eq!(again["locks"], granted["locks"]);

    // The set's token opens each env's gate; another pipeline's set is refused whole.
    for env in ["canary", "qa"] {
        let gate = http
            .get(app.url(&format!("/api/v1/gate/{env}")))
            .header("Baton-Lock-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(gate.status().as_u16(), 200, "{env}");
    }
    let other = http
        .post(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["qa", "staging-1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 409);
    let refused: serde_json::Value = other.json().await.unwrap();
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with("nothing was locked: qa is locked by deploy #7"),
        "{message}"
    );
    assert_eq!(holder_of(&app, "staging-1").await, None);

    // Bad requests say what is wrong.
    for (body, says) in [
        (serde_json::json!({"envs": ["qa"]}), "2 to 10 envs"),
        (serde_json::json!({"envs": ["qa", "qa"]}), "named twice"),
        (
            serde_json::json!({"envs": ["qa", "canary"], "wait": "2h"}),
            "`wait` may be at most 30m",
        ),
    ] {
        let r = http
            .post(app.url("/api/v1/locks"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert!(e["message"].as_str().unwrap().contains(says), "{body}: {e}");
    }
    // The same env in another case: no schema can say it, so it is a conflict, not a bad request.
    let r = http
        .post(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["qa", "QA"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);

    // Extended only with the set's token, and then every lock together.
    let extend = |token: &str, ttl: &str| {
        http.patch(app.url("/api/v1/locks"))
            .json(&serde_json::json!({"envs": ["canary", "qa"], "token": token, "ttl": ttl}))
            .send()
    };
    let wrong = extend("0123456789abcdef0123456789abcdef", "5m")
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 409);
    let too_long = extend(&token, "55m").await.unwrap();
    assert_eq!(too_long.status().as_u16(), 409);
    let says: serde_json::Value = too_long.json().await.unwrap();
    assert!(
        says["message"]
            .as_str()
            .unwrap()
            .contains("qa may have at most 1h left"),
        "{says}"
    );
    let longer = extend(&token, "5m").await.unwrap();
    assert_eq!(longer.status().as_u16(), 200);
    let longer: serde_json::Value = longer.json().await.unwrap();
    assert!(
        longer["expires_in_ms"].as_u64().unwrap() > 10 * 60 * 1000,
        "{longer}"
    );
    assert_eq!(longer["locks"], granted["locks"], "the fences stay");

    // Released only with the set's token, and then whole.
    let wrong = http
        .delete(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["canary", "qa"], "token": "0123456789abcdef0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 409);
    assert!(holder_of(&app, "canary").await.is_some());
    let back = http
        .delete(app.url("/api/v1/locks"))
        .json(&serde_json::json!({"envs": ["canary", "qa"], "token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 200);
    let released: serde_json::Value = back.json().await.unwrap();
    assert_eq!(released["released"].as_array().unwrap().len(), 2);
    assert_eq!(holder_of(&app, "canary").await, None);
    assert_eq!(holder_of(&app, "qa").await, None);

    // A retry of the original request now hears that its set ended: never a replayed grant.
    let late = take().await.unwrap();
    assert_eq!(late.status().as_u16(), 410);
}
