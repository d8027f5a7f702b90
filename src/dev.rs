//! `baton dev`: a zero-config local run. A throwaway `redis-server` (unless `--redis`), the demo
//! config, demo data, HTTP on 127.0.0.1:8080, and an interactive console.

use std::net::SocketAddr;

use anyhow::Context;
use baton_commands::config::{CiTokenConfig, Config};
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

    println!("Baton dev is running.");
    println!(
        "  redis     {}{}",
        config.redis.url,
        if _server.is_some() {
            " (throwaway, removed on exit)"
        } else {
            ""
        }
    );
    println!("  http      http://{addr}  (/healthz, /readyz)");
    println!("  envs      prod (protected), canary, qa; pool staging = staging-1..3");
    println!(
        "  you are   {} (admin); `as alice` (deployer) or `as bob` (no role) to switch",
        Actor::console(user).id
    );
    println!("  ci token  {ci_token}  (ci:dev, every env; this run only)");
    println!("            curl -X POST -H 'Authorization: Bearer {ci_token}' http://{addr}/api/v1/locks/qa");
    println!("Try: lock prod 30m testing · status · claim staging 2h QA · history canary · help · quit\n");

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
