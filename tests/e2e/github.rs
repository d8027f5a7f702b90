//! GitHub deployments wait in Baton's queue: the App's webhook, driven by GitHub's own example
//! payloads (`@octokit/webhooks-examples`, pinned in tests/github), signed as GitHub signs them,
//! against a stand-in GitHub API that checks the App's JWT and the installation token.

mod approvals;
mod replays;
mod stand_in;

use std::time::Duration;

use baton_commands::config::{GithubRule, OnFreeze};
use baton_commands::domain::{EnvName, Secret};
use baton_commands::BatonError;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use stand_in::{key_pair, GitHubStandIn, APP_ID};

use crate::support::{node_packages, spawn_core_with, TestApp};

const SECRET: &str = "baton-test-webhook-secret";
const EXAMPLES: &str =
    "tests/github/node_modules/@octokit/webhooks-examples/api.github.com/index.json";
/// The deployment of the `deployment_status.created` example (state success, production).
const EXAMPLE_DEPLOYMENT: u64 = 145988746;

/// GitHub's example payloads of `event`, as published.
fn examples(event: &str) -> Vec<Value> {
    assert!(
        node_packages("tests/github", "the GitHub webhook tests"),
        "npm ci --prefix tests/github"
    );
    let all: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(EXAMPLES).unwrap()).unwrap();
    let found = all.into_iter().find(|e| e["name"] == event).unwrap();
    found["examples"].as_array().unwrap().clone()
}

/// The `deployment_status` example with state success in production, from an installation.
fn deployment_status() -> Value {
    let all = examples("deployment_status");
    let found = all
        .iter()
        .find(|e| e["deployment_status"]["state"] == "success" && e["installation"].is_object());
    found.unwrap().clone()
}

/// A `deployment_protection_rule` (requested) for run `run` of `repo`. The package publishes no
/// example of this event, so it is built from the published deployment, repository, sender and
/// installation objects, with the three fields GitHub documents for it.
fn requested(repo: &str, run: u64, deployment: u64) -> Value {
    let base = deployment_status();
    let mut d = base["deployment"].clone();
    d["id"] = json!(deployment);
    // GitHub asks as it creates the deployment (the example's is from 2019).
    d["created_at"] = json!(chrono::Utc::now().to_rfc3339());
    let mut repository = base["repository"].clone();
    repository["full_name"] = json!(repo);
    json!({
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": format!("https://api.github.com/repos/{repo}/actions/runs/{run}/deployment_protection_rule"),
        "deployment": d,
        "pull_requests": [],
        "repository": repository,
        "sender": base["sender"],
        "installation": base["installation"],
    })
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `payload` as GitHub does (delivery id, event, signature) to `addr`.
async fn deliver(
    addr: std::net::SocketAddr,
    event: &str,
    delivery: &str,
    payload: &Value,
) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/github/webhook"))
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign(&body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

fn rule(repos: &str, env: &str, on_freeze: OnFreeze) -> GithubRule {
    GithubRule {
        repos: repos.into(),
        environment: "production".into(),
        env: EnvName::parse(env).unwrap(),
        on_freeze,
        wait_limit: None,
    }
}

/// `instances` of the service with the App configured against `gh`, the App a deployer (prod
/// is protected).
async fn spawn(gh: &GitHubStandIn, instances: usize) -> (TestApp, Vec<std::net::SocketAddr>) {
    spawn_as(gh, instances, &["github:app"]).await
}

/// As [`spawn`], with `deployers` added to `roles.deployer` (the App is not, unless named).
async fn spawn_as(
    gh: &GitHubStandIn,
    instances: usize,
    deployers: &[&str],
) -> (TestApp, Vec<std::net::SocketAddr>) {
    spawn_edited(gh, instances, deployers, |_| {}).await
}

/// As [`spawn_as`], with `edit` applied to the config last.
async fn spawn_edited(
    gh: &GitHubStandIn,
    instances: usize,
    deployers: &[&str],
    edit: impl FnOnce(&mut baton_commands::config::Config),
) -> (TestApp, Vec<std::net::SocketAddr>) {
    let base = gh.base.clone();
    let deployers: Vec<String> = deployers.iter().map(|d| d.to_string()).collect();
    let mut app = spawn_core_with(|c| {
        c.roles.deployer.extend(deployers);
        c.github.app_id = Some(APP_ID);
        c.github.private_key = Some(Secret::new(key_pair().0.clone()));
        c.github.webhook_secret = Some(Secret::new(SECRET));
        c.github.api_url = base;
        c.github.rules = vec![
            rule("Codertocat/*", "prod", OnFreeze::Reject),
            rule("octo-org/*", "qa", OnFreeze::Wait),
        ];
        c.defaults.queue_limit = 50;
        edit(c);
    })
    .await;
    let mut addrs = Vec::new();
    for _ in 0..instances {
        addrs.push(app.start_instance().await);
    }
    // Let every instance's callbacks join their consumer groups.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (app, addrs)
}

#[tokio::test]
async fn a_run_behind_alice_is_approved_by_her_unlock_and_its_deployment_status_hands_prod_on() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 2).await;
    app.ok("alice", "lock prod 30m hotfix").await;
    let first = requested("Codertocat/Hello-World", 101, EXAMPLE_DEPLOYMENT);
    let (status, body) = deliver(addrs[0], "deployment_protection_rule", "d-1", &first).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("queued")));
    let second = requested("Codertocat/Hello-World", 102, 7);
    assert_eq!(
        deliver(addrs[1], "deployment_protection_rule", "d-2", &second)
            .await
            .0,
        200
    );
    let status = app.ok("bob", "status prod").await;
    let shown = format!("{status:?}");
    assert!(
        shown.contains("Codertocat/Hello-World · run 101"),
        "{shown}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        gh.accepted().is_empty(),
        "nothing is approved while alice holds prod"
    );
    // Alice lets go on a third core: the run is approved within a second, with lock and fence.
    gh.trouble(&[(502, None), (429, Some(1))]);
    app.ok("alice", "unlock prod").await;
    let reviews = gh.wait_for(1, Duration::from_secs(4)).await;
    assert_eq!(
        (reviews[0].run, reviews[0].state.as_str()),
        (101, "approved")
    );
    assert!(
        reviews[0].comment.contains("prod") && reviews[0].comment.contains("fence"),
        "{:?}",
        reviews[0]
    );
    assert_eq!(reviews[0].environment, "production");
    assert!(gh.tokens_minted() >= 1);
    // GitHub's own deployment_status (success) of that deployment releases prod: run 102 next.
    let (status, _) = deliver(addrs[1], "deployment_status", "d-3", &deployment_status()).await;
    assert_eq!(status, 200);
    let reviews = gh.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(
        (reviews[1].run, reviews[1].state.as_str()),
        (102, "approved")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gh.accepted().len(), 2, "each run is approved exactly once");
}

#[tokio::test]
async fn one_installation_token_serves_every_answer_until_it_nears_its_expiry() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    app.ok("alice", "lock prod 30m hotfix").await;
    let first = requested("Codertocat/Hello-World", 111, EXAMPLE_DEPLOYMENT);
    let second = requested("Codertocat/Hello-World", 112, 7);
    for (i, run) in [first, second].iter().enumerate() {
        let id = format!("70c0{i:04x}-0000-4000-8000-000000000000");
        assert_eq!(
            deliver(addrs[0], "deployment_protection_rule", &id, run)
                .await
                .0,
            200
        );
    }
    app.ok("alice", "unlock prod").await;
    gh.wait_for(1, Duration::from_secs(4)).await;
    let (status, _) = deliver(
        addrs[0],
        "deployment_status",
        "70c0ffff-0000-4000-8000-000000000000",
        &deployment_status(),
    )
    .await;
    assert_eq!(status, 200);
    let reviews = gh.wait_for(2, Duration::from_secs(4)).await;
    assert_eq!((reviews[0].run, reviews[1].run), (111, 112));
    assert_eq!(gh.tokens_minted(), 1, "two answers, one installation token");
}

#[tokio::test]
async fn alice_unlock_approves_the_waiting_run_within_a_second() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 2).await;
    app.ok("alice", "lock prod 30m hotfix").await;
    let run = requested("Codertocat/Hello-World", 201, 9);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", "d-1", &run).await;
    assert_eq!(body["result"], "queued", "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        gh.accepted().is_empty(),
        "nothing is approved while alice holds prod"
    );
    let started = std::time::Instant::now();
    app.ok("alice", "unlock prod").await;
    gh.wait_for(1, Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_completed_workflow_run_releases_its_env() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    let completed = examples("workflow_run")
        .into_iter()
        .find(|e| e["action"] == "completed" && e["workflow_run"]["conclusion"] == "success")
        .unwrap();
    let repo = completed["repository"]["full_name"].as_str().unwrap();
    let run = completed["workflow_run"]["id"].as_u64().unwrap();
    deliver(
        addrs[0],
        "deployment_protection_rule",
        "d-1",
        &requested(repo, run, 11),
    )
    .await;
    gh.wait_for(1, Duration::from_secs(2)).await;
    assert!(format!("{:?}", app.ok("bob", "status qa").await).contains(&format!("run {run}")));
    assert_eq!(
        deliver(addrs[0], "workflow_run", "d-2", &completed).await.0,
        200
    );
    let status = format!("{:?}", app.ok("bob", "status qa").await);
    assert!(!status.contains(&format!("run {run}")), "{status}");
}

#[tokio::test]
async fn a_frozen_env_rejects_in_reject_mode_and_approves_at_the_thaw_in_wait_mode() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    app.ok("admin", "freeze prod 1h release week").await;
    app.ok("admin", "freeze qa 1h release week").await;
    let (_, body) = deliver(
        addrs[0],
        "deployment_protection_rule",
        "d-1",
        &requested("Codertocat/Hello-World", 301, 21),
    )
    .await;
    assert_eq!(body["result"], "rejected");
    let (_, body) = deliver(
        addrs[0],
        "deployment_protection_rule",
        "d-2",
        &requested("octo-org/octo-repo", 302, 22),
    )
    .await;
    assert_eq!(body["result"], "queued");
    let reviews = gh.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(
        (reviews[0].run, reviews[0].state.as_str()),
        (301, "rejected")
    );
    assert!(
        reviews[0].comment.contains("frozen") && reviews[0].comment.contains("release week"),
        "{:?}",
        reviews[0]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        gh.accepted().len(),
        1,
        "the waiting run waits while qa is frozen"
    );
    app.ok("admin", "unfreeze qa").await;
    let reviews = gh.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(
        (reviews[1].run, reviews[1].state.as_str()),
        (302, "approved")
    );
}

#[tokio::test]
async fn bad_and_missing_signatures_replays_and_unknown_repositories_change_nothing() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    app.ok("alice", "lock prod 30m hotfix").await;
    let run = requested("Codertocat/Hello-World", 401, 31);
    let body = serde_json::to_vec(&run).unwrap();
    let post = |signature: Option<String>| {
        let mut r = reqwest::Client::new()
            .post(format!("http://{}/github/webhook", addrs[0]))
            .header("x-github-event", "deployment_protection_rule")
            .header("x-github-delivery", "d-0a")
            .body(body.clone());
        if let Some(s) = signature {
            r = r.header("x-hub-signature-256", s);
        }
        r.send()
    };
    let before = app.snapshot().await;
    let forged = format!("sha256={}", "0".repeat(64));
    assert_eq!(post(Some(forged)).await.unwrap().status(), 401);
    assert_eq!(post(None).await.unwrap().status(), 401);
    let unknown = requested("someone/else", 402, 32);
    let (status, answer) = deliver(addrs[0], "deployment_protection_rule", "d-0b", &unknown).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("unmapped")));
    assert_eq!(before, app.snapshot().await, "nothing changed");
    assert_eq!(
        deliver(addrs[0], "deployment_protection_rule", "d-1", &run)
            .await
            .1["result"],
        "queued"
    );
    let queued = app.snapshot().await;
    assert_eq!(
        deliver(addrs[0], "deployment_protection_rule", "d-1", &run)
            .await
            .1["result"],
        "replayed"
    );
    assert_eq!(queued, app.snapshot().await, "a replay changes nothing");
    let (status, _) = deliver(addrs[0], "push", "d-0c", &json!({"zen": "ok"})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gh.calls(), 0, "none of them called GitHub");
}

#[tokio::test]
async fn twenty_runs_on_three_instances_are_each_approved_once_in_line_order_never_two_at_once() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 3).await;
    app.ok("alice", "lock prod 30m hotfix").await;
    let requests = (0..20u64).map(|i| {
        let addr = addrs[i as usize % 3];
        let run = requested("Codertocat/Hello-World", 500 + i, 9000 + i);
        async move { deliver(addr, "deployment_protection_rule", &format!("d-{i}"), &run).await }
    });
    for (status, body) in futures_util::future::join_all(requests).await {
        assert_eq!((status, body["result"].as_str()), (200, Some("queued")));
    }
    // The line's order, as the lock script recorded it.
    let mut con = app.redis().await;
    let line: Vec<String> = redis::cmd("ZRANGE")
        .arg("baton:{prod}:line:prod")
        .arg(0)
        .arg(-1)
        .query_async(&mut con)
        .await
        .unwrap();
    let order: Vec<u64> = line
        .iter()
        .map(|holder| holder.rsplit('#').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(order.len(), 20);
    app.ok("alice", "unlock prod").await;
    for (i, run) in order.iter().enumerate() {
        let reviews = gh.wait_for(i + 1, Duration::from_secs(3)).await;
        // Never a second approval while this run holds prod.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reviews_now = gh.accepted();
        assert_eq!(
            reviews_now.len(),
            i + 1,
            "one approved run at a time: {reviews_now:?}"
        );
        assert_eq!(
            (reviews[i].run, reviews[i].state.as_str()),
            (*run, "approved")
        );
        let mut done = deployment_status();
        done["deployment"]["id"] = json!(9000 + run - 500);
        let addr = addrs[(i + 1) % 3];
        assert_eq!(
            deliver(addr, "deployment_status", &format!("5-{i}"), &done)
                .await
                .0,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = gh.accepted();
    let runs: std::collections::HashSet<u64> = all.iter().map(|r| r.run).collect();
    assert_eq!(
        (all.len(), runs.len()),
        (20, 20),
        "each run approved exactly once"
    );
}

#[tokio::test]
async fn admins_approve_and_reject_waiting_runs_from_chat_on_the_record() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn(&gh, 1).await;
    // qa waits out freezes: a run queued there is approved by an admin over the freeze.
    app.ok("admin", "freeze qa 1h release week").await;
    let (_, body) = deliver(
        addrs[0],
        "deployment_protection_rule",
        "d-1",
        &requested("octo-org/octo-repo", 401, 31),
    )
    .await;
    assert_eq!(body["result"], "queued");
    let err = app.refused("bob", "github approve qa 401").await;
    assert!(matches!(err, BatonError::Forbidden(_)), "{err:?}");
    let approved = app.ok("admin", "github approve qa 401").await;
    assert!(
        approved
            .title
            .contains("approved octo-org/octo-repo · run 401"),
        "{}",
        approved.title
    );
    let reviews = gh.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(
        (reviews[0].run, reviews[0].state.as_str()),
        (401, "approved")
    );
    // The Approve button pressed again (a stale message): the run holds qa, and the refusal says so.
    let again = app.refused("admin", "github approve qa 401").await;
    assert!(
        again.to_string().contains("already holds qa") && again.to_string().contains("not waiting"),
        "{again}"
    );
    // GitHub's comment and the env's history name the admin and what was overridden.
    assert!(
        reviews[0]
            .comment
            .contains("approved by admin over a freeze"),
        "{:?}",
        reviews[0]
    );
    let history = format!("{:?}", app.ok("bob", "history qa").await);
    assert!(
        history.contains("(GitHub), approved by admin (terminal console) over a freeze"),
        "{history}"
    );

    // prod is held: a run waits behind alice, and an admin rejects it with a reason.
    app.ok("alice", "lock prod 30m hotfix").await;
    deliver(
        addrs[0],
        "deployment_protection_rule",
        "d-2",
        &requested("Codertocat/Hello-World", 402, 32),
    )
    .await;
    let held = app
        .refused("admin", "github approve prod Codertocat/Hello-World#402")
        .await;
    assert!(held.to_string().contains("is held by alice"), "{held}");
    app.ok(
        "admin",
        "github reject prod Codertocat/Hello-World#402 not during the incident",
    )
    .await;
    let reviews = gh.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(
        (reviews[1].run, reviews[1].state.as_str()),
        (402, "rejected")
    );
    assert!(
        reviews[1]
            .comment
            .contains("rejected by admin: not during the incident"),
        "{:?}",
        reviews[1]
    );
    let history = app.ok("bob", "history prod").await.text.unwrap();
    assert!(history.contains("rejected by admin"), "{history}");
    let history = app.ok("bob", "history qa").await.text.unwrap();
    assert!(
        history.contains("locked by octo-org/octo-repo"),
        "{history}"
    );
    let gone = app.refused("admin", "github reject prod 402").await;
    assert!(
        gone.to_string().contains("no GitHub run `402` waits"),
        "{gone}"
    );
}
