//! A GitHub run on an env that needs approval (the two-person rule) waits for a person's
//! approval like anyone's request: GitHub's review comment names who approved, or who rejected
//! and why.

use std::time::Duration;

use baton_commands::store::audit::Kind;

use super::stand_in::GitHubStandIn;
use super::{deliver, requested, spawn_edited, EXAMPLE_DEPLOYMENT};

#[tokio::test]
async fn a_run_on_an_env_that_needs_approval_waits_for_a_person_and_github_hears_who_decided() {
    let gh = GitHubStandIn::start().await;
    let (app, addrs) = spawn_edited(&gh, 1, &["github:app"], |c| {
        let prod = c
            .envs
            .iter_mut()
            .find(|e| e.name.as_str() == "prod")
            .unwrap();
        prod.approvals = 1;
    })
    .await;
    let run = requested("Codertocat/Hello-World", 701, EXAMPLE_DEPLOYMENT);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", "a-1", &run).await;
    assert_eq!(body["result"], "pending_approval", "{body}");
    let asked = app.events("prod", "prod").await.pop().unwrap();
    assert_eq!(asked.kind, Kind::ApprovalRequested);
    assert!(asked.holder.starts_with("github:"), "{}", asked.holder);

    let approved = app
        .ok("bob", &format!("approve prod #{}", asked.request))
        .await;
    assert!(
        approved.title.starts_with("bob approved:"),
        "{}",
        approved.title
    );
    let reviews = gh.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        (reviews[0].run, reviews[0].state.as_str()),
        (701, "approved")
    );
    assert!(
        reviews[0].comment.contains("approved by bob"),
        "{}",
        reviews[0].comment
    );

    // A second run (a new deployment) is rejected by a person: GitHub hears who and why.
    let rerun = requested("Codertocat/Hello-World", 702, EXAMPLE_DEPLOYMENT + 1);
    let (_, body) = deliver(addrs[0], "deployment_protection_rule", "a-2", &rerun).await;
    assert_eq!(body["result"], "pending_approval", "{body}");
    app.ok("alice", "reject prod not during the incident").await;
    let reviews = gh.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(
        (reviews[1].run, reviews[1].state.as_str()),
        (702, "rejected")
    );
    assert!(
        reviews[1]
            .comment
            .contains("alice rejected the lock on prod: not during the incident"),
        "{}",
        reviews[1].comment
    );
}
