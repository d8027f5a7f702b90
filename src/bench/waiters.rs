//! `baton bench --waiters 10,100,1000`: what CI requests waiting in line cost Redis while nothing
//! else happens. The bench holds the env, then for each count lines up that many `wait` requests
//! (each on a connection of its own, as that many CI jobs would), lets them settle, and measures
//! over `--duration`: Redis' CPU per second, its commands per second, and the server time of each
//! `FCALL`, which while the line is idle are the waiters' lease renewals (one a second each). A
//! waiter's cost should not grow with how many wait beside it; this shows whether it does. Then
//! the requests are dropped (Baton takes their entries out of the line) before the next count.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use baton_adapters::ci::api_types::LockBody;
use baton_commands::store::tools::ServerStats;
use hyper::Method;
use tokio::task::JoinSet;

use super::{cpu_time, http, json, server_stats, BenchArgs};

/// How long a waiting request asks to wait: longer than any run (within `ci.max_wait`).
const WAIT: Duration = Duration::from_secs(20 * 60);
/// How long the line may take to fill up, or to empty once its requests are gone.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// After the line is full: every waiter's first renewal is behind it, so the run measures the
/// steady state (one renewal a second each), not the arrivals.
const SETTLE: Duration = Duration::from_secs(2);

/// One count's figures.
struct Figures {
    cpu_ms_per_s: f64,
    commands_per_s: f64,
    fcalls_per_s: f64,
    usec_per_fcall: f64,
    /// `baton serve`'s CPU per second, with `--pid`.
    baton_ms_per_s: Option<f64>,
    /// `baton serve`'s memory at the end of the count, with `--pid`.
    memory: Option<Memory>,
}

/// A process's resident memory from `/proc/<pid>/status`, MiB: all of it, and the part that is
/// its heap and stacks (`RssAnon`; the rest is the program's own code and libraries, mapped
/// from their files, which the kernel may drop and read again).
#[derive(Clone, Copy)]
struct Memory {
    rss: f64,
    anon: f64,
}

impl Memory {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Ok(Self {
            rss: field("VmRSS:"),
            anon: field("RssAnon:"),
        })
    }
}

/// Runs the measurement for each count of `--waiters` and prints one line per count.
pub async fn run(args: &BenchArgs, target: http::Target) -> anyhow::Result<()> {
    let redis = args.redis.as_deref().context("--waiters needs --redis")?;
    let env = args.envs[0].clone();
    let mut admin = http::Conn::new(target.clone());
    let token = super::hold(&mut admin, &env).await?;
    println!(
        "baton bench --waiters: CI requests waiting for {env} (held by the bench), nothing else happening, {:.1} s each",
        args.duration.as_secs_f64()
    );
    let counts = std::iter::once(0).chain(args.waiters.iter().copied());
    let mut outcome = Ok(());
    for n in counts {
        match count(args, redis, &target, &mut admin, &env, n).await {
            Ok(f) => print(n, &f),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    super::release(&mut admin, &env, &token).await?;
    outcome
}

/// Lines up `n` waiters, measures, and lets them go.
async fn count(
    args: &BenchArgs,
    redis: &str,
    target: &http::Target,
    admin: &mut http::Conn,
    env: &str,
    n: usize,
) -> anyhow::Result<Figures> {
    let mut waiters = JoinSet::new();
    for i in 0..n {
        waiters.spawn(wait(http::Conn::new(target.clone()), env.to_string(), i));
    }
    let measured = async {
        until_line_is(admin, env, n, &mut waiters).await?;
        tokio::time::sleep(SETTLE).await;
        measure(redis, args.duration, args.pid).await
    }
    .await;
    // Dropping the requests closes their connections: Baton takes their entries out of the line.
    waiters.shutdown().await;
    until_line_is(admin, env, 0, &mut waiters)
        .await
        .context("the waiters' entries stayed in line after their requests were gone")?;
    measured
}

/// One CI request waiting for `env`: it answers only if something went wrong (the line is full,
/// a connection was refused), since the bench holds the env for longer than it waits.
async fn wait(mut conn: http::Conn, env: String, i: usize) -> anyhow::Result<()> {
    let body = json(&LockBody {
        holder: Some(format!("bench waiter {i}")),
        ttl: Some(Duration::from_secs(60)),
        reason: Some("baton bench --waiters".into()),
        wait: Some(WAIT),
    });
    let path = format!("/api/v1/locks/{env}");
    let (status, body) = conn
        .send_within(Method::POST, &path, Some(body), WAIT * 2)
        .await?;
    bail!(
        "waiter {i} was answered {status} while the env was held: {}",
        String::from_utf8_lossy(&body)
    )
}

/// Waits until `env`'s line holds `n` entries, as Baton's `GET /api/v1/envs/{env}` shows it;
/// stops early with the error of a waiter that was answered.
async fn until_line_is(
    admin: &mut http::Conn,
    env: &str,
    n: usize,
    waiters: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut seen = usize::MAX;
    while started.elapsed() < SETTLE_LIMIT {
        if let Some(done) = waiters.try_join_next() {
            done??;
        }
        seen = line_length(admin, env).await?;
        if seen == n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{env}'s line held {seen} entries after {SETTLE_LIMIT:?}, not {n} (is defaults.queue_limit at least {n}? server.max_connections_per_address?)")
}

async fn line_length(admin: &mut http::Conn, env: &str) -> anyhow::Result<usize> {
    let (status, body) = admin
        .send(Method::GET, &format!("/api/v1/envs/{env}"), None)
        .await?;
    if status != 200 {
        bail!(
            "GET /api/v1/envs/{env} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let view: serde_json::Value = serde_json::from_slice(&body)?;
    // `queued` counts the whole line where the view shows only its first page; a Baton without
    // it shows the whole line.
    view["queued"]
        .as_u64()
        .map(|n| n as usize)
        .or_else(|| view["queue"].as_array().map(Vec::len))
        .with_context(|| format!("no queue in {env}'s view"))
}

/// Redis' (and, with `pid`, `baton serve`'s) figures over `duration`.
async fn measure(redis: &str, duration: Duration, pid: Option<u32>) -> anyhow::Result<Figures> {
    let before = server_stats(redis).await?;
    let baton_before = pid.map(cpu_time).transpose()?;
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let after = server_stats(redis).await?;
    let secs = started.elapsed().as_secs_f64();
    let baton_ms_per_s = match (pid, baton_before) {
        (Some(pid), Some(b)) => Some(cpu_time(pid)?.saturating_sub(b).as_secs_f64() * 1e3 / secs),
        _ => None,
    };
    let memory = pid.map(Memory::of).transpose()?;
    Ok(figures(&before, &after, secs, baton_ms_per_s, memory))
}

fn figures(
    before: &ServerStats,
    after: &ServerStats,
    secs: f64,
    baton_ms_per_s: Option<f64>,
    memory: Option<Memory>,
) -> Figures {
    let delta = |name: &str| {
        let (a, b) = (
            after.commands.get(name).copied().unwrap_or_default(),
            before.commands.get(name).copied().unwrap_or_default(),
        );
        (
            a.calls.saturating_sub(b.calls),
            a.usec.saturating_sub(b.usec),
        )
    };
    // The bench's own INFO calls (and the handshake of their connections) are not Baton's.
    let commands: u64 = after
        .commands
        .keys()
        .filter(|k| k.as_str() != "info" && !k.starts_with("client"))
        .map(|k| delta(k).0)
        .sum();
    let (fcalls, fcall_usec) = delta("fcall");
    Figures {
        cpu_ms_per_s: after.cpu_us.saturating_sub(before.cpu_us) as f64 / 1000.0 / secs,
        commands_per_s: commands as f64 / secs,
        fcalls_per_s: fcalls as f64 / secs,
        usec_per_fcall: fcall_usec as f64 / fcalls.max(1) as f64,
        baton_ms_per_s,
        memory,
    }
}

fn print(n: usize, f: &Figures) {
    let baton = f
        .baton_ms_per_s
        .map(|ms| format!("   baton serve CPU {ms:.2} ms/s"))
        .unwrap_or_default();

    let who = if n == 0 {
        "    no waiters (baseline)".to_string()
    } else {
        format!("{n:>6} waiting            ")
    };
    println!(
        "  {who}  redis CPU {:>7.2} ms/s   {:>8.1} commands/s   FCALL {:>7.1}/s at {:>7.1} µs each{baton}",
        f.cpu_ms_per_s, f.commands_per_s, f.fcalls_per_s, f.usec_per_fcall
    );
    if let Some(m) = f.memory {
        println!(
            "  {:<27}baton serve RSS {:.1} MiB, of which heap and stacks {:.1}",
            "", m.rss, m.anon
        );
    }
}
