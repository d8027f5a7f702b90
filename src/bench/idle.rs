//! `baton bench --idle`: what Baton costs a shared Redis while nothing happens. Starts
//! `--instances` copies of `baton serve` with `--envs` envs on the `--redis` server, lets them
//! settle, and reports the Redis commands per second and the Redis CPU per second they cause,
//! beside the same server's figures with no Baton at all (its own housekeeping).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use baton_commands::store::tools::ServerStats;

use super::{server_stats, BenchArgs};

/// The measured figures of one idle run.
struct Idle {
    commands_per_s: f64,
    cpu_ms_per_s: f64,
    top: Vec<(String, f64)>,
}

/// Runs the idle measurement and prints it.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let redis = args.redis.as_deref().context("--idle needs --redis")?;
    let envs: usize = match args.envs.as_slice() {
        [n] => n
            .parse()
            .context("--idle: --envs is a count, e.g. --envs 1000")?,
        _ => bail!("--idle: --envs is a count, e.g. --envs 1000"),
    };
    if envs == 0 || args.instances == 0 {
        bail!("--idle needs at least one env and one instance");
    }
    let dir = std::env::temp_dir().join(format!("baton-bench-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("baton.toml");
    std::fs::write(&config, idle_config(redis, &args.prefix, envs))?;

    let alone = measure(redis, args.duration).await?;
    let exe = std::env::current_exe().context("finding the baton binary")?;
    let mut children = Vec::new();
    for _ in 0..args.instances {
        let child = tokio::process::Command::new(&exe)
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting baton serve")?;
        children.push(child);
    }
    // Start-up (scripts loaded, the lease taken, one read of every group) is not idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = measure(redis, args.duration).await;
    for mut c in children {
        let _ = c.kill().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let busy = busy?;
    println!(
        "baton bench --idle: {envs} envs, {} instance(s) of baton serve, nothing happening, {:.1} s",
        args.instances,
        args.duration.as_secs_f64()
    );
    println!(
        "  redis commands   {:.1}/s  (without Baton: {:.1}/s)",
        busy.commands_per_s, alone.commands_per_s
    );
    println!(
        "  redis cpu        {:.2} ms/s  (without Baton: {:.2} ms/s: the server's own housekeeping)",
        busy.cpu_ms_per_s, alone.cpu_ms_per_s
    );
    let top: Vec<String> = busy
        .top
        .iter()
        .map(|(k, n)| format!("{k} {n:.1}/s"))
        .collect();
    println!("  by command       {}", top.join(", "));
    Ok(())
}

/// Commands/s and CPU ms/s on `redis` over `duration`, leaving out the INFO calls it makes.
async fn measure(redis: &str, duration: Duration) -> anyhow::Result<Idle> {
    let before = server_stats(redis).await?;
    let started = std::time::Instant::now();
    tokio::time::sleep(duration).await;
    let after = server_stats(redis).await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(rates(&before, &after, secs))
}

fn rates(before: &ServerStats, after: &ServerStats, secs: f64) -> Idle {
    let mut top: Vec<(String, f64)> = after
        .commands
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .map(|(k, a)| {
            let b = before.commands.get(k).map_or(0, |b| b.calls);
            (k.clone(), a.calls.saturating_sub(b) as f64 / secs)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    Idle {
        commands_per_s: top.iter().map(|(_, n)| n).sum::<f64>() + 0.0, // an empty sum is -0.0
        cpu_ms_per_s: after.cpu_us.saturating_sub(before.cpu_us) as f64 / 1000.0 / secs,
        top,
    }
}

/// `envs` envs named `idle-<n>` on `redis`, no chat platform, no token: only the service.
fn idle_config(redis: &str, prefix: &str, envs: usize) -> String {
    let mut toml = format!("[redis]\nurl = \"{redis}\"\nprefix = \"{prefix}\"\n");
    for n in 1..=envs {
        toml.push_str(&format!("[[envs]]\nname = \"idle-{n}\"\n"));
    }
    toml
}
