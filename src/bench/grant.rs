//! The grant on envs Baton already knows, beside the minimal lock: what a real deploy lock
//! costs Redis. `redis-benchmark` can only repeat one command, so its fresh grant on every call
//! (`compare`) needs a lock never seen before; a configured env is locked, released and locked
//! again. Here each round locks `ENVS` envs once each (the measured phase: `fcall` in `INFO
//! commandstats` before and after), then releases them (Baton's unlock, the minimal lock's
//! `DEL`: not measured), from `--concurrency` connections, for Baton's lock function and for the
//! minimal lock function alike, rounds interleaved; a first round of each warms (the envs' keys
//! named, their fences and histories made) and is not counted. Each figure is the median round's.

use anyhow::{bail, Context};
use baton_commands::domain::EnvName;
use baton_commands::store::{scripts, Keys};

use super::compare::{self, Run};
use super::{server_stats, BenchArgs};

/// Envs locked and released in each round: far fewer than the prelude keeps names for (4,096),
/// as many as a large config names.
pub(super) const ENVS: usize = 1_000;
/// Measured rounds of each, after one that warms.
const ROUNDS: usize = 9;

/// Baton's lock function and the minimal lock function granting a known, free env.
pub async fn run(args: &BenchArgs, redis: &str) -> anyhow::Result<(Run, Run)> {
    let layout = Keys::new(&args.prefix);
    let client = redis::Client::open(redis).context("--redis is not a Redis URL")?;
    let mut conns = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        conns.push(
            client
                .get_multiplexed_async_connection()
                .await
                .context("connecting to --redis")?,
        );
    }
    let channel = layout.events_channel();
    let names: Vec<EnvName> = (0..ENVS)
        .map(|i| EnvName::parse(&format!("bench-grant-{i}")).expect("a valid name"))
        .collect();
    let baton: Vec<(redis::Cmd, redis::Cmd)> = names
        .iter()
        .map(|env| {
            let lockmeta = layout.lockmeta(env, env);
            // The call `compare` makes with redis-benchmark, on this env's lock.
            let call = compare::lock_fcall(
                &layout,
                env.as_str(),
                std::slice::from_ref(&lockmeta),
                "bench",
                "tok",
            );
            let mut lock = redis::cmd(&call[0]);
            lock.arg(&call[1..]);
            // ARGV as unlock.lua reads it: the prelude's four, then kind, actor, display, token
            // (none: by holder), force.
            let mut unlock = redis::cmd("FCALL");
            unlock.arg(scripts::UNLOCK.name()).arg(1).arg(&lockmeta);
            unlock
                .arg(env.as_str())
                .arg(&channel)
                .arg(500)
                .arg("")
                .arg("lock")
                .arg("bench")
                .arg("bench")
                .arg("")
                .arg(0);
            (lock, unlock)
        })
        .collect();
    // The minimal lock's keys: its lock, fence, details and history, one hash tag per env.
    let minimal: Vec<(redis::Cmd, redis::Cmd)> = names
        .iter()
        .map(|env| {
            let k = |what: &str| format!("{}:{{min-{}}}:{what}", args.prefix, env.as_str());
            let mut lock = redis::cmd("FCALL");
            lock.arg("baton_bench_minimal")
                .arg(4)
                .arg(k("lock"))
                .arg(k("fence"))
                .arg(k("details"))
                .arg(k("history"))
                .arg("bench")
                .arg("tok")
                .arg(60_000)
                .arg(&channel);
            let mut unlock = redis::cmd("DEL");
            unlock.arg(k("lock"));
            (lock, unlock)
        })
        .collect();
    // Both libraries loaded (Baton's own, and the minimal one `compare` defines).
    let store = compare::baton_store(redis)?;
    store.load_scripts().await?;
    store.function_load(compare::MINIMAL_LIBRARY).await?;

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let a = cycle(&conns, &baton, redis).await?;
        let b = cycle(&conns, &minimal, redis).await?;
        if round > 0 {
            ours.push(a);
            theirs.push(b);
        }
    }
    Ok((compare::median(ours), compare::median(theirs)))
}

/// One round: every lock (measured), then every release.
async fn cycle(
    conns: &[redis::aio::MultiplexedConnection],
    calls: &[(redis::Cmd, redis::Cmd)],
    redis: &str,
) -> anyhow::Result<Run> {
    let before = server_stats(redis).await?;
    let started = std::time::Instant::now();
    phase(conns, calls, |c| &c.0).await?;
    let elapsed = started.elapsed();
    let after = server_stats(redis).await?;
    phase(conns, calls, |c| &c.1).await?;
    let (b, a) = (
        before.commands.get("fcall").copied().unwrap_or_default(),
        after.commands.get("fcall").copied().unwrap_or_default(),
    );
    let n = a.calls.saturating_sub(b.calls);
    if n < calls.len() as u64 {
        bail!("only {n} of {} locks reached Redis", calls.len());
    }
    Ok(Run {
        rps: calls.len() as f64 / elapsed.as_secs_f64(),
        usec: a.usec.saturating_sub(b.usec) as f64 / n as f64,
    })
}

/// Sends `which` of every call, connection `i` taking calls `i`, `i + n`, …, each waiting for
/// its answer before the next (as `redis-benchmark`'s clients do).
async fn phase(
    conns: &[redis::aio::MultiplexedConnection],
    calls: &[(redis::Cmd, redis::Cmd)],
    which: fn(&(redis::Cmd, redis::Cmd)) -> &redis::Cmd,
) -> anyhow::Result<()> {
    let n = conns.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in conns.iter().enumerate() {
        let mut conn = conn.clone();
        let mine: Vec<redis::Cmd> = calls
            .iter()
            .skip(i)
            .step_by(n)
            .map(which)
            .cloned()
            .collect();
        tasks.spawn(async move {
            for cmd in mine {
                let answer: redis::Value = cmd.query_async(&mut conn).await?;
                // Baton answers a grant or a release `{"status":"ok",…}`, the minimal lock its
                // fence, `DEL` 1: anything else would measure some other road.
                let done = match &answer {
                    redis::Value::BulkString(json) => json.starts_with(br#"{"status":"ok""#),
                    redis::Value::Int(n) => *n > 0,
                    _ => false,
                };
                if !done {
                    bail!("a grant or release did not take: {answer:?}");
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
