//! Installations sharing one Redis: on different database numbers or with different prefixes,
//! none hears another's events (Pub/Sub ignores the database, so the channel must not).

use std::time::Duration;

use baton_commands::BusMessage;
use baton_commands::{Actor, Baton};
use tokio::sync::broadcast::Receiver;

use crate::support::spawn_core_with;

/// The next event within `wait`, skipping resyncs.
async fn next_event(rx: &mut Receiver<BusMessage>, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(BusMessage::Event(e))) => return Some(e.raw.clone()),
            Ok(Ok(BusMessage::Resync)) => continue,
            Ok(Err(e)) => panic!("event bus: {e}"),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn installations_on_other_databases_or_prefixes_never_hear_each_other() {
    let a = spawn_core_with(|c| c.redis.url.push_str("/3")).await;
    let install = |url: String, prefix: &str| {
        let mut config = a.config.clone();
        config.redis.url = url;
        config.redis.prefix = prefix.into();
        baton::app::build(&config).unwrap()
    };
    let base = a.redis.url();
    let others: Vec<(&str, Baton)> = vec![
        ("db 4, same prefix", install(format!("{base}/4"), "baton")),
        ("db 3, prefix other", install(format!("{base}/3"), "other")),
        ("db 0, same prefix", install(base.clone(), "baton")),
    ];
    let mut mine = a.baton.events().subscribe();
    let mut theirs: Vec<_> = others.iter().map(|(_, b)| b.events().subscribe()).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    a.ok("alice", "lock canary 30m secret release").await;
    let heard = next_event(&mut mine, Duration::from_secs(5)).await;
    assert!(
        heard.is_some_and(|e| e.contains("secret release")),
        "A hears itself"
    );
    for ((what, _), rx) in others.iter().zip(&mut theirs) {
        let leaked = next_event(rx, Duration::from_millis(500)).await;
        assert_eq!(leaked, None, "{what} heard A's event");
    }

    // And the other way round: B's lock on db 4 never reaches A.
    let (_, b) = &others[0];
    b.run_text(Actor::console("bob"), "lock canary 30m other team")
        .await
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    let heard = next_event(&mut theirs[0], Duration::from_secs(5)).await;
    assert!(
        heard.is_some_and(|e| e.contains("other team")),
        "B hears itself"
    );
    assert_eq!(
        next_event(&mut mine, Duration::from_millis(500)).await,
        None
    );
}
