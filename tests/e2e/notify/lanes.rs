//! One channel in trouble delays only itself: the others, and people's DMs, hear of their
//! changes at once; the troubled channel gets everything, in order, once, when it recovers.

use std::time::{Duration, Instant};

use baton_commands::{NotifyOptions, RetryPolicy};

use super::stand_in::{StandIn, Trouble};
use super::{announce, pending, quick, start, stream, until, Log};
use crate::support::spawn_core_with;

const DOWN: &str = "111100000000000001";
const DISCORD_OK: &str = "222200000000000002";
const BOB: &str = "333300000000000003";

/// Waits up to `secs` for an accepted post to `channel` that shows `text`; when it came.
async fn arrival(s: &StandIn, channel: &str, text: &str, secs: u64) -> Option<Instant> {
    let found = || {
        s.posts(channel)
            .into_iter()
            .find(|p| p.accepted && super::stand_in::shown(p).contains(text))
            .map(|p| p.at)
    };
    until(secs, || found().is_some()).await;
    found()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_down_or_rate_limited_delays_only_itself_and_gets_everything_in_order_once() {
    let s = StandIn::start().await;
    s.trouble("CSLOW", Trouble::Limited(Duration::from_secs(30)));
    s.trouble(DOWN, Trouble::Down(Duration::from_secs(60)));
    let app = spawn_core_with(|c| {
        announce(c, "canary", &["slack:CSLOW", &format!("discord:{DOWN}")]);
        announce(c, "qa", &["slack:COK", &format!("discord:{DISCORD_OK}")]);
    })
    .await;
    let options = NotifyOptions {
        retry: RetryPolicy {
            max_backoff: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..quick()
    };
    let _instance = start(&app, vec![s.slack(), s.discord()], options).await;

    let troubled = [
        "alice locked canary",
        "alice extended their lock on canary",
        "alice unlocked canary",
    ];
    for text in ["lock canary 10m one", "extend canary 5m", "unlock canary"] {
        app.ok("slack:alice", text).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        until(5, || !s.posts("CSLOW").is_empty()
            && !s.posts(DOWN).is_empty())
        .await
    );

    // Meanwhile: other channels, and a hand-off DM to another person.
    let changed = Instant::now();
    app.ok("slack:alice", "lock qa 10m two").await;
    for channel in ["COK", DISCORD_OK] {
        let at = arrival(&s, channel, "alice locked qa", 5).await;
        let waited = at.map(|at| at - changed);
        assert!(
            waited.is_some_and(|w| w < Duration::from_secs(2)),
            "{channel}: {waited:?}"
        );
    }
    app.ok(&format!("discord:{BOB}"), "queue qa 10m next").await;
    let changed = Instant::now();
    app.ok("slack:alice", "unlock qa").await;
    let dm = arrival(&s, BOB, "You now hold qa", 5)
        .await
        .map(|at| at - changed);
    assert!(
        dm.is_some_and(|w| w < Duration::from_secs(2)),
        "the DM waited {dm:?}"
    );
    let handed = arrival(&s, "COK", "now holds qa", 5)
        .await
        .map(|at| at - changed);
    assert!(
        handed.is_some_and(|w| w < Duration::from_secs(2)),
        "{handed:?}"
    );

    catch_up_in_order_once(&s, &troubled).await;
    assert_eq!(pending(&app, &stream("canary", "canary")).await, 0);
    let slow = s.posts("CSLOW");
    eprintln!(
        "CSLOW: {} posts ({} refused with 429); {DOWN}: {} posts ({} answered 500)",
        slow.len(),
        slow.iter().filter(|p| !p.accepted).count(),
        s.posts(DOWN).len(),
        s.posts(DOWN).iter().filter(|p| !p.accepted).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_200_that_does_not_decode_is_delivered_once_never_resent() {
    let s = StandIn::start().await;
    s.trouble("CODD", Trouble::Odd);
    s.trouble(DOWN, Trouble::Odd);
    let app = spawn_core_with(|c| {
        announce(c, "canary", &["slack:CODD", &format!("discord:{DOWN}")]);
    })
    .await;
    let _instance = start(&app, vec![s.slack(), s.discord()], quick()).await;
    app.ok("slack:alice", "lock canary 10m odd answers").await;
    assert!(
        until(10, || !s.posts("CODD").is_empty()
            && !s.posts(DOWN).is_empty())
        .await
    );
    // Longer than the first backoff (1 s) and the take-over delay (1.5 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(s.posts("CODD").len(), 1, "Slack said ok: true");
    assert_eq!(s.posts(DOWN).len(), 1, "Discord answered 200");
    assert_eq!(
        pending(&app, &stream("canary", "canary")).await,
        0,
        "acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_entry_of_a_stream_is_not_skipped_when_an_instance_starts_in_the_batch_window() {
    let app = spawn_core_with(|c| announce(c, "canary", &["slack:CFIRST"])).await;
    let log = Log::default();
    // The first instance joins before canary's stream exists, and batches for a second.
    let slow = NotifyOptions {
        batch_window: Duration::from_secs(1),
        poll_interval: Duration::from_secs(5),
        ..quick()
    };
    let _first = start(&app, vec![super::recorder("slack", 0, &log)], slow).await;
    // The stream's very first entry...
    app.ok("slack:alice", "lock canary 10m first ever").await;
    // ...and a second instance joining within the first one's batch window.
    let _second = start(&app, vec![super::recorder("slack", 1, &log)], quick()).await;
    assert!(
        until(10, || !log.lock().unwrap().is_empty()).await,
        "the first entry was skipped"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = log.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].reply.title, "alice locked canary");
}

/// The troubled channels get every change once they recover, in order, each once; the others
/// got theirs once.
async fn catch_up_in_order_once(s: &StandIn, troubled: &[&str]) {
    // The troubled channels catch up once they recover, in order, each change once.
    for channel in ["CSLOW", DOWN] {
        let all_in = until(90, || {
            let shown = s.shown(channel).join("\n");
            troubled.iter().all(|t| shown.contains(t))
        })
        .await;
        assert!(all_in, "{channel}: {:#?}", s.shown(channel));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for channel in ["CSLOW", DOWN] {
        let shown = s.shown(channel).join("\n");
        let at: Vec<usize> = troubled
            .iter()
            .map(|t| {
                assert_eq!(
                    shown.matches(t).count(),
                    1,
                    "{t} once on {channel}: {shown}"
                );
                shown.find(t).unwrap()
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "in order on {channel}: {shown}"
        );
    }
    for channel in ["COK", DISCORD_OK, BOB] {
        let posts = s.posts(channel);
        assert!(posts.iter().all(|p| p.accepted), "{channel}");
        let shown = s.shown(channel).join("\n");
        for once in ["alice locked qa", "now hold"] {
            assert!(
                shown.matches(once).count() <= 1,
                "{once} twice on {channel}: {shown}"
            );
        }
    }
}
