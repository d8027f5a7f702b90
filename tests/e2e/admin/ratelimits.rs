//! Rate limits: counters shown per identity, and a reset that deletes exactly that identity's
//! keys, found by SCAN with the identity's glob characters escaped.

use super::{field, redis, rows, spawn_admin};
use crate::support::TestApp;

const TRICKY: &str = "a*b?[c]";

/// `n` other identities' window keys (`rl:login:user<i>:<window>`) and OTP counters.
async fn fill_with_others(app: &TestApp, n: usize) {
    let mut con = app.redis().await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut mset = redis::cmd("MSET");
        for i in chunk {
            mset.arg(format!("rl:login:user{i}:{}", 28_000_000 + i % 3))
                .arg(1);
        }
        let _: () = mset.query_async(&mut con).await.unwrap();
    }
    let mut mset = redis::cmd("MSET");
    for i in 0..1000 {
        mset.arg(format!("rl:otp:user{i}")).arg(2);
    }
    let _: () = mset.query_async(&mut con).await.unwrap();
}

#[tokio::test]
async fn reset_of_an_id_with_glob_characters_removes_only_its_keys_among_100000_others() {
    let app = spawn_admin().await;
    fill_with_others(&app, 100_000).await;
    let mine = [
        format!("rl:login:{TRICKY}:28000001"),
        format!("rl:login:{TRICKY}:28000002"),
        format!("rl:login:{TRICKY}:28000003"),
    ];
    // Keys an unescaped pattern, or a `*` crossing a `:`, would wrongly take.
    let decoys = [
        "rl:login:aXb?[c]:28000001",
        "rl:login:a*bX[c]:28000001",
        "rl:login:a*b?c:28000001",
        "rl:login:a*b?[c]:x:28000001",
        "rl:login:a*b?[c]",
    ];
    // The identity `*` exists too: its reset takes its one key, nobody else's.
    let star = "rl:login:*:28000001";
    let mut con = app.redis().await;
    for key in mine.iter().map(String::as_str).chain(decoys).chain([star]) {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(4)
            .arg("EX")
            .arg(60)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let before: u64 = redis(&app, &mut redis::cmd("DBSIZE")).await;

    let shown = app
        .ok("admin", &format!("admin ratelimit login {TRICKY}"))
        .await;
    assert_eq!(shown.title, format!("{TRICKY} on login: 3 keys"));
    let table = rows(&shown);
    assert_eq!(table.keys().cloned().collect::<Vec<_>>(), mine.to_vec());
    assert_eq!(table[&mine[0]]["Count"], "4 of 10");

    // `*` as the id means the identity `*`, never "everyone".
    let reset = app.ok("admin", "admin ratelimit reset otp *").await;
    assert_eq!(reset.title, "* had no otp keys, so nothing was reset");
    let reset = app.ok("admin", "admin ratelimit reset login *").await;
    assert_eq!(reset.title, "admin reset login for *: 1 key removed");
    assert_eq!(field(&reset, "Keys"), star);
    // The resets created the admin audit stream: one key more, one less.
    assert!(redis::<bool>(&app, redis::cmd("EXISTS").arg("baton:{admin}:history")).await);
    assert_eq!(redis::<u64>(&app, &mut redis::cmd("DBSIZE")).await, before);

    let reset = app
        .ok("admin", &format!("admin ratelimit reset login {TRICKY}"))
        .await;
    assert_eq!(
        reset.title,
        format!("admin reset login for {TRICKY}: 3 keys removed")
    );
    assert_eq!(
        redis::<u64>(&app, &mut redis::cmd("DBSIZE")).await,
        before - 3
    );
    for key in mine {
        assert!(
            !redis::<bool>(&app, redis::cmd("EXISTS").arg(&key)).await,
            "{key}"
        );
    }
    for key in decoys {
        assert!(
            redis::<bool>(&app, redis::cmd("EXISTS").arg(key)).await,
            "{key} was removed"
        );
    }
    let history = app.ok("admin", "admin history 1").await.text.unwrap();
    assert!(
        history.contains(&format!("ratelimit reset login {TRICKY}: 3 key(s)")),
        "{history}"
    );
}

#[tokio::test]
async fn a_fixed_window_counter_shows_count_window_and_ttl_and_resets_to_nothing() {
    let app = spawn_admin().await;
    let _: () = redis(
        &app,
        redis::cmd("SET")
            .arg("rl:otp:alice@example.com")
            .arg(3)
            .arg("EX")
            .arg(420),
    )
    .await;
    let reply = app
        .ok("admin", "admin ratelimit otp alice@example.com")
        .await;
    assert_eq!(reply.title, "alice@example.com on otp: 3 of 5");
    assert_eq!(field(&reply, "Window"), "10m");
    assert!(
        field(&reply, "TTL").starts_with("7m") || field(&reply, "TTL").starts_with("6m"),
        "{reply:#?}"
    );
    assert_eq!(
        reply.buttons[0].command,
        "admin ratelimit reset otp alice@example.com"
    );

    let reset = app
        .ok("admin", "admin ratelimit reset otp alice@example.com")
        .await;
    assert_eq!(
        reset.title,
        "admin reset otp for alice@example.com: 1 key removed"
    );
    let after = app
        .ok("admin", "admin ratelimit otp alice@example.com")
        .await;
    assert_eq!(
        after.title,
        "alice@example.com has no otp counter: nothing counted now"
    );
}

#[tokio::test]
async fn a_sliding_log_shows_its_count_and_oldest_and_newest_requests() {
    let app = spawn_admin().await;
    let now: u64 = 1_795_711_200_000;
    let mut zadd = redis::cmd("ZADD");
    zadd.arg("rl:api:bob");
    for i in 0..3u64 {
        zadd.arg(now + i * 1000).arg(format!("req-{i}"));
    }
    let _: () = redis(&app, &mut zadd).await;
    let _: () = redis(&app, redis::cmd("PEXPIRE").arg("rl:api:bob").arg(60_000)).await;
    let reply = app.ok("admin", "admin ratelimit api bob").await;
    assert_eq!(reply.title, "bob on api: 3 of 100");
    assert!(
        field(&reply, "Oldest").starts_with("2026-11-26 16:40 UTC"),
        "{reply:#?}"
    );
    assert!(field(&reply, "TTL").ends_with("left"));
    // The wrong kind is reported, not a crash.
    let _: () = redis(&app, redis::cmd("SET").arg("rl:api:carol").arg(7)).await;
    let odd = app.ok("admin", "admin ratelimit api carol").await;
    assert!(
        field(&odd, "Count").contains("is kind = \"sliding\" right?"),
        "{odd:#?}"
    );
}
