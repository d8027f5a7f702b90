//! The audit event is a contract: every entry the scripts write decodes to a kind this version
//! knows (the history helper of the support module checks that for every test that reads one).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use baton_commands::store::audit::Kind;
use serde_json::json;

use crate::support::{spawn_core_with, TestApp, TOKEN_ALL};

#[tokio::test]
async fn every_event_the_chat_and_ci_steps_write_decodes_to_a_known_kind() {
    let mut app =
        spawn_core_with(|c| c.defaults.remind_before = Some(Duration::from_secs(1))).await;
    app.start_instance().await;
    for text in [
        ("alice", "lock canary 10m release"),
        ("bob", "queue canary 10m next"),
        ("alice", "extend canary 10m"),
        ("alice", "unlock canary"),
        ("admin", "unlock canary --force"),
        ("alice", "lock canary 10m again"),
        ("bob", "queue canary 10m"),
        ("bob", "leave canary"),
        ("alice", "unlock canary"),
        ("alice", "claim staging-1 1h qa"),
        ("alice", "extend staging-1 1h"),
        ("alice", "release staging-1"),
        ("bob", "claim staging-2 1h"),
        ("admin", "release staging-2 --force"),
        ("admin", "freeze canary 1h incident"),
        ("admin", "unfreeze canary"),
        ("admin", "freeze qa 2s drill"),
        ("alice", "lock canary 2s short"),
        ("bob", "claim staging-3 2s short"),
    ] {
        app.ok(text.0, text.1).await;
    }
    let r = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/deploys/canary"))
        .json(&json!({"sha": "abc123", "version": "4.2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The short holds are reminded, then expire; the short freeze ends: the sweeper's doing.
    let wanted: BTreeSet<Kind> = [
        Kind::Locked,
        Kind::Queued,
        Kind::LockExtended,
        Kind::Unlocked,
        Kind::HandedOff,
        Kind::ForceUnlocked,
        Kind::LeftQueue,
        Kind::Claimed,
        Kind::ClaimExtended,
        Kind::Released,
        Kind::ForceReleased,
        Kind::Frozen,
        Kind::Unfrozen,
        Kind::FreezeEnded,
        Kind::LockReminder,
        Kind::LockExpired,
        Kind::ClaimReminder,
        Kind::ClaimExpired,
        Kind::Deployed,
    ]
    .into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut seen = BTreeSet::new();
        for (group, env) in [
            ("canary", "canary"),
            ("qa", "qa"),
            ("staging", "staging-1"),
            ("staging", "staging-2"),
            ("staging", "staging-3"),
        ] {
            // `history` asserts that each entry decodes to a known kind.
            seen.extend(app.events(group, env).await.into_iter().map(|e| e.kind));
        }
        let missing: Vec<_> = wanted.difference(&seen).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never written: {missing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
