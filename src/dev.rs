//! `baton dev`: a zero-config local run. A throwaway `redis-server` (unless `--redis`), the demo
//! config, demo data, HTTP on 127.0.0.1:8080, and an interactive console.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use baton_commands::config::{CiTokenConfig, Config};
use baton_commands::store::tools::{SeedJob, SeedStep};
use baton_commands::store::Store;
use baton_commands::{Actor, Baton};
use tokio::net::TcpListener;

use crate::app;
use crate::redis_process::RedisProcess;

/// The demo config, with `user` as an admin and a CI token (`ci:dev`, a deployer) for every env.
pub fn demo_config(user: &str, ci_token: &str) -> Config {
    let mut config =
        Config::from_toml_str(include_str!("dev.toml")).expect("the built-in demo config is valid");
    config.roles.admin.push(Actor::console(user).id);
    config.roles.deployer.push("ci:dev".into());
    config.ci.tokens.push(CiTokenConfig {
        name: "dev".into(),
        sha256: baton_adapters::ci::sha256_hex(ci_token),
        envs: vec!["*".into()],
        ..Default::default()
    });
    config
}

/// Runs `baton dev`.
pub async fn run(
    redis: Option<String>,
    listen: Option<SocketAddr>,
    user: &str,
) -> anyhow::Result<()> {
    let ci_token = format!("baton_dev_{:032x}", rand::random::<u128>());
    let mut config = demo_config(user, &ci_token);
    let _server = match redis {
        Some(url) => {
            config.redis.url = url;
            None
        }
        None => {
            let server = RedisProcess::start()?;
            config.redis.url = server.url();
            Some(server)
        }
    };
    // A dev run shares nothing with anything else on that Redis.
    config.redis.prefix = "baton-dev".into();
    let listen = listen.unwrap_or(config.server.listen);
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!(
            "{listen} is in use; pass `--listen 127.0.0.1:0` (any free port) or another address"
        )
    })?;
    let addr = listener.local_addr()?;
    let baton = app::build(&config)?;
    seed(&baton)
        .await
        .context("seeding demo data: is Redis reachable?")?;
    seed_admin(&config, &baton)
        .await
        .context("seeding the admin commands' demo data")?;

    banner(&config, addr, _server.is_some(), user, &ci_token);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = {
        let baton = baton.clone();
        tokio::spawn(async move {
            app::run(&config, baton, listener, async move {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    tokio::select! {
        r = crate::console::run(&baton, user) => {
            r?;
        }
        _ = app::shutdown_signal() => {}
    }
    let _ = stop_tx.send(());
    service.await??;
    Ok(())
}

/// What is running where, and what to try first.
fn banner(config: &Config, addr: SocketAddr, throwaway: bool, user: &str, ci_token: &str) {
    println!("Baton dev is running.");
    println!(
        "  redis     {}{}",
        baton_commands::config::redact_url(&config.redis.url),
        if throwaway {
            " (throwaway, removed on exit)"
        } else {
            ""
        }
    );
    println!("  http      http://{addr}  (/healthz, /readyz)");
    println!("  envs      prod (protected), canary, qa, payments (needs an approval); pool staging = staging-1..3; group train = canary,qa");
    println!(
        "  you are   {} (admin); `as jane` (admin), `as alice` (deployer) or `as bob` (no role) to switch",
        Actor::console(user).id
    );
    println!("  ci token  {ci_token}  (ci:dev, every env; this run only)");
    println!("            curl -X POST -H 'Authorization: Bearer {ci_token}' http://{addr}/api/v1/locks/qa");
    println!("  admin     demo BullMQ queues, sessions, rate limits and leaderboards ([admin] in dev.toml)");
    println!(
        "Try: lock prod 30m testing · status · claim staging 2h QA · history canary · help · quit"
    );
    println!(
        "     admin queues · admin queues emails · admin session alice · admin ratelimit login bob"
    );
    println!(
        "     admin leaderboard weekly around player-042 · admin kick alice · admin history\n"
    );
}

/// Demo state so `status` and `history` show something on first run.
async fn seed(baton: &Baton) -> anyhow::Result<()> {
    baton.store().ping().await?;
    for (user, text) in [
        ("alice", "lock canary 45m smoke-testing release 4.2"),
        ("bob", "queue canary 20m hotfix for the login page"),
        ("bob", "claim staging 3h payments QA"),
        ("carol", "claim staging-3 1h demo for sales"),
    ] {
        if let Err((e, _)) = baton.run_text(Actor::console(user), text).await {
            tracing::warn!(%e, text, "demo command refused");
        }
    }
    Ok(())
}

/// Demo data for every `admin` command, at the keys dev.toml's `[admin]` names: BullMQ queues
/// written by BullMQ's own scripts (bullmq-official: waiting, failed, completed, delayed,
/// prioritized, and a paused queue), two sessions, rate-limit counters of each kind and two
/// leaderboards.
async fn seed_admin(config: &Config, baton: &Baton) -> anyhow::Result<()> {
    let admin = &config.admin;
    let store = baton.store();
    let now = baton_commands::domain::wall_clock();

    for (user, age_secs) in [("alice", 7200u64), ("bob", 600)] {
        let key = admin.session_key.replace("{user}", user);
        let token = baton_commands::domain::new_token();
        let ttl = Duration::from_secs(86_400 - age_secs);
        store.seed_text(&key, &token, ttl).await?;
    }

    let key = |limiter: &str, id: &str, window: &str| {
        admin
            .ratelimits
            .iter()
            .find(|r| r.name == limiter)
            .map(|r| r.pattern.replace("{id}", id).replace('*', window))
    };
    if let Some(otp) = key("otp", "alice@example.com", "") {
        store.seed_text(&otp, "4", Duration::from_secs(420)).await?;
    }
    let minute = now / 60_000;
    for (ago, count) in [(2, 3), (1, 9), (0, 6)] {
        if let Some(login) = key("login", "bob", &(minute - ago).to_string()) {
            let count = count.to_string();
            store
                .seed_text(&login, &count, Duration::from_secs(180))
                .await?;
        }
    }
    if let Some(api) = key("api", "carol", "") {
        let log: Vec<(String, String)> = (0..40u64)
            .map(|i| {
                let at = now - i * 1400;
                (at.to_string(), format!("req-{at}"))
            })
            .collect();
        let window = Some(Duration::from_millis(60_000));
        store.seed_scores(&api, &log, window).await?;
    }

    for board in &admin.leaderboards {
        let scores: Vec<(String, String)> = (1..=200u64)
            .map(|i| {
                let score = match board.order {
                    baton_commands::config::BoardOrder::Desc => (i * 7919 % 10_007).to_string(),
                    baton_commands::config::BoardOrder::Asc => {
                        format!("{:.2}", 55.0 + (i * 31 % 97) as f64 / 3.0)
                    }
                };
                (score, format!("player-{i:03}"))
            })
            .collect();
        store.seed_scores(&board.key, &scores, None).await?;
    }

    seed_bullmq(config, store).await
}

/// Two demo queues through bullmq-official, once (a rerun against the same Redis adds nothing).
async fn seed_bullmq(config: &Config, store: &Store) -> anyhow::Result<()> {
    let prefix = &config.admin.bullmq_prefix;
    if store.bullmq_queue_exists(prefix, "emails").await? {
        return Ok(());
    }
    let welcome = |i: usize| {
        let to = format!("user{i}@example.com");
        SeedStep::Add(SeedJob::new(
            "send-welcome",
            serde_json::json!({ "to": to }),
        ))
    };
    let mut emails: Vec<SeedStep> = (0..5).map(welcome).collect();
    // Jobs taken the way a worker takes them, then failed or completed, as a real app's would be.
    emails.extend(
        [
            "SMTP 550: mailbox unavailable",
            "SMTP 421: service not available, try again later",
            "template `welcome-v2` not found",
        ]
        .map(|reason| SeedStep::Fail(reason.into())),
    );
    emails.push(SeedStep::Complete("\"sent\"".into()));
    emails.extend((5..8).map(welcome));
    let digest = SeedJob::new("weekly-digest", serde_json::json!({}));
    emails.push(SeedStep::Add(digest.delay(Duration::from_secs(3600))));
    let reset = SeedJob::new(
        "password-reset",
        serde_json::json!({ "to": "vip@example.com" }),
    );
    emails.push(SeedStep::Add(reset.priority(1)));
    store.seed_bullmq_queue(prefix, "emails", &emails).await?;

    let report = |month: &str| {
        let job = SeedJob::new("monthly-report", serde_json::json!({ "month": month }));
        SeedStep::Add(job)
    };
    let mut reports: Vec<SeedStep> = ["2026-09", "2026-10", "2026-11"].map(report).into();
    reports.push(SeedStep::Pause);
    store.seed_bullmq_queue(prefix, "reports", &reports).await?;
    Ok(())
}
