//! Deploy locks: ownership, force, extend, fences, freezes.

use baton_commands::reply::ReplyData;
use baton_commands::BatonError;

use crate::support::spawn_core;

#[tokio::test]
async fn a_non_admin_cannot_force_unlock_and_an_admin_can_with_both_named_in_history() {
    let app = spawn_core().await;
    app.ok("alice", "lock prod 30m hotfix").await;

    let refused = app.refused("bob", "unlock prod --force").await;
    assert!(matches!(refused, BatonError::Forbidden(_)), "{refused:?}");
    assert!(refused.to_string().contains("admin role"), "{refused}");
    app.refused("bob", "lock prod").await; // still alice's

    let forced = app.ok("admin", "unlock prod --force").await;
    assert_eq!(forced.title, "admin force-unlocked prod, held by alice");
    let history = app.ok("bob", "history prod").await.text.unwrap();
    let newest = history.lines().next().unwrap();
    assert!(
        newest.contains("force-unlocked by admin (terminal console), held by alice"),
        "{history}"
    );
    app.ok("bob", "lock prod 10m").await;
}

#[tokio::test]
async fn only_the_holder_can_unlock_or_extend_and_locking_twice_says_so() {
    let app = spawn_core().await;
    app.ok("alice", "lock canary 30m").await;
    let again = app.refused("alice", "lock canary").await;
    assert!(
        again.to_string().contains("you already hold canary"),
        "{again}"
    );

    let not_yours = app.refused("bob", "unlock canary").await;
    assert!(
        matches!(not_yours, BatonError::NotHolder { .. }),
        "{not_yours:?}"
    );
    assert!(
        not_yours
            .to_string()
            .contains("locked by alice, not by you"),
        "{not_yours}"
    );
    assert!(matches!(
        app.refused("bob", "extend canary 10m").await,
        BatonError::NotHolder { .. }
    ));

    let extended = app.ok("alice", "extend canary 30m").await;
    assert!(
        extended
            .title
            .contains("extended their lock on canary by 30m"),
        "{}",
        extended.title
    );
    app.ok("alice", "unlock canary").await;
    let gone = app.refused("alice", "unlock canary").await;
    assert!(matches!(gone, BatonError::NotHeld { .. }), "{gone:?}");
}

#[tokio::test]
async fn a_lock_without_a_duration_gets_the_env_default_and_extensions_stop_at_the_max() {
    let app = spawn_core().await;
    let reply = app.ok("alice", "lock qa").await; // qa: default 10m, max 1h
    let Some(ReplyData::Grant { hold, .. }) = reply.data else {
        panic!("a grant")
    };
    assert_eq!(hold.expires - hold.since, 10 * 60 * 1000);

    let too_long = app.refused("alice", "extend qa 55m").await;
    let text = too_long.to_string();
    assert!(
        text.contains("at most 1h from now") && text.contains("extend by up to 50m"),
        "{text}"
    );
    app.ok("alice", "extend qa 50m").await;
}

#[tokio::test]
async fn fences_increase_across_holders_and_hand_offs() {
    let app = spawn_core().await;
    let mut last = 0;
    for user in ["alice", "bob", "carol", "alice"] {
        let reply = app.ok(user, "lock canary 5m").await;
        let Some(ReplyData::Grant { hold, .. }) = reply.data else {
            panic!("a grant")
        };
        assert!(hold.fence > last, "fence {} after {last}", hold.fence);
        last = hold.fence;
        app.ok(user, "unlock canary").await;
    }
}

#[tokio::test]
async fn a_freeze_refuses_locks_except_to_admins_and_freeze_all_covers_every_env() {
    let app = spawn_core().await;
    let frozen = app.ok("alice", "freeze all 30d holidays").await;
    assert!(
        frozen.title.contains("froze all 6 envs for 30d"),
        "{}",
        frozen.title
    );
    for env in ["prod", "canary", "qa", "staging-2"] {
        let err = app.refused("bob", &format!("lock {env}")).await;
        assert!(matches!(err, BatonError::Frozen { .. }), "{env}: {err:?}");
        assert!(err.to_string().contains("holidays"), "{err}");
    }
    let admin = app.ok("admin", "lock prod 10m emergency fix").await;
    assert!(admin.text.unwrap().contains("you took it as an admin"));
    app.ok("bob", "unfreeze all").await;
    app.ok("bob", "lock canary").await;
}

#[tokio::test]
async fn unlock_on_a_claimed_env_points_to_release() {
    let app = spawn_core().await;
    app.ok("alice", "claim staging-2 1h").await;
    let err = app.refused("alice", "unlock staging-2").await;
    assert!(err.to_string().contains("`release staging-2`"), "{err}");
}

#[tokio::test]
async fn leaving_the_queue_gives_up_your_place() {
    let app = spawn_core().await;
    app.ok("alice", "lock canary 10m").await;
    app.ok("bob", "queue canary").await;
    let dup = app.refused("bob", "queue canary").await;
    assert!(
        dup.to_string().contains("locked by alice")
            && dup
                .to_string()
                .contains("you are already #1 in the queue for canary"),
        "{dup}"
    );
    app.ok("bob", "leave canary").await;
    let released = app.ok("alice", "unlock canary").await;
    assert!(released.text.is_none(), "nobody is next");
}

#[tokio::test]
async fn a_refusal_states_the_whole_situation_held_frozen_and_your_place_by_name() {
    let app = spawn_core().await;
    app.ok("alice", "lock canary 30m release").await;
    app.ok("admin", "freeze canary 2h incident 7").await;
    // Held and frozen: both, and when the freeze ends.
    let refused = app.refused("bob", "lock canary").await.to_string();
    assert!(
        refused.starts_with("canary is locked by alice"),
        "{refused}"
    );
    assert!(
        refused.contains("also frozen by admin until") && refused.contains("incident 7"),
        "{refused}"
    );
    // A queued person asking again hears a whole sentence naming the env and why it waits.
    app.ok("bob", "queue canary 10m").await;
    let again = app.refused("bob", "lock canary").await.to_string();
    assert!(
        again.starts_with("you are already #1 in the queue for canary; it is locked by alice"),
        "{again}"
    );
    assert!(again.contains("frozen by admin"), "{again}");
}

#[tokio::test]
async fn status_offers_only_the_buttons_its_reader_can_use() {
    let app = crate::support::spawn_core().await;
    let labels = |r: &baton_commands::reply::Reply| -> Vec<String> {
        r.buttons.iter().map(|b| b.label.clone()).collect()
    };
    // prod is protected: a reader with no role is offered nothing to press on it.
    assert!(labels(&app.ok("carol", "status prod").await).is_empty());
    assert_eq!(
        labels(&app.ok("alice", "status prod").await),
        ["Lock", "Claim"]
    );
    // A frozen env takes no lock or claim but an admin's: the line is what is left to join.
    app.ok("admin", "freeze qa 1h release week").await;
    assert_eq!(labels(&app.ok("alice", "status qa").await), ["Join queue"]);
    assert_eq!(
        labels(&app.ok("admin", "status qa").await),
        ["Lock", "Claim"]
    );
}

#[tokio::test]
async fn queuing_on_a_frozen_env_says_why_the_line_waits_and_until_when() {
    let app = crate::support::spawn_core().await;
    app.ok("admin", "freeze qa 2h release week").await;
    let queued = app.ok("alice", "queue qa 20m next").await;
    let text = queued.text.unwrap_or_default();
    assert!(
        text.contains("frozen by admin until")
            && text.contains("(in ")
            && text.contains("release week")
            && text.contains("the line does not move until then"),
        "{text}"
    );
}
