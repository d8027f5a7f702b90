//! `baton bench --refused`: what a refused lock costs Redis, in two pairs, by `redis-benchmark`
//! at the bench's concurrency, in interleaved rounds (each figure the median round's):
//!
//! - Baton's lock function on an env someone else holds, with nobody in line and with `--queued`
//!   waiting. A refusal should cost the same whoever waits behind it.
//! - the same empty-line refusal beside the minimal informative refusal: `SET NX PX` fails, and the
//!   holder's details (who, why, since, until) come back from one `HGETALL`. What Baton's answer
//!   costs on top of saying who holds it.
//!
//! Server time per call is `INFO commandstats`' `fcall` usec ÷ calls around each run. The envs are
//! the bench's own (`bench-refused`, `bench-refused-queue`), held and lined up through Baton's own
//! function, so nothing a running Baton serves is touched.

use anyhow::{bail, Context};
use baton_commands::config::RedisConfig;
use baton_commands::domain::EnvName;
use baton_commands::store::{scripts, Call, Keys, Store};

use super::compare::{self, Run, ROUNDS};
use super::BenchArgs;

/// The minimal informative lock as a function (call form for call form with Baton's): taken with
/// `SET NX PX` and its details written once; refused with those details.
const MINIMAL_REFUSAL: &str = "#!lua name=baton_bench_refusal
redis.register_function('baton_bench_refusal', function(KEYS, ARGV)
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
    redis.call('HSET', KEYS[2], 'who', ARGV[1], 'why', ARGV[2], 'since', ARGV[4], 'until', ARGV[5])
    return 1
  end
  return redis.call('HGETALL', KEYS[2])
end)
";

/// How long the bench's holds last: past any run, gone soon after.
const HOLD_MS: u64 = 10 * 60 * 1000;
/// Server time each measured run aims at, so that a costly call runs fewer times.
const ROUND_SERVER_US: f64 = 600_000.0;

/// Runs both pairs and prints them.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let redis = args.redis.as_deref().context("--refused needs --redis")?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let (host, port) = compare::host_port(redis)?;
    let store = store(redis, &args.prefix)?;
    store.load_scripts().await?;
    let layout = Keys::new(&args.prefix);
    let empty = EnvName::parse("bench-refused").expect("a valid name");
    let crowded = EnvName::parse("bench-refused-queue").expect("a valid name");
    for env in [&empty, &crowded] {
        hold(&store, env).await?;
    }
    line_up(&store, &crowded, args.queued).await?;

    // Each call is refused: the holder is a fresh one every time, never the bench's.
    let refused = |env: &EnvName| {
        // As a call sends it (`Store::script`): one key, the env's lock's details.
        let keys = [layout.lockmeta(env, env)];
        compare::lock_fcall(
            &layout,
            env.as_str(),
            &keys,
            "bench-__rand_int__",
            "tok-__rand_int__",
        )
    };
    let (on_empty, on_crowded) = (refused(&empty), refused(&crowded));
    let minimal = minimal_refusal(&store, &layout, &host, &port, redis).await?;

    let c = args.concurrency;
    let commands = [&on_empty, &on_crowded, &minimal];
    // A short first round of each, not counted: how many calls a round should make.
    let mut calls = Vec::new();
    for command in commands {
        let probe = compare::run(&host, &port, c, 1000, redis, command, "fcall").await?;
        calls.push(((ROUND_SERVER_US / probe.usec.max(0.1)) as usize).clamp(500, 40_000));
    }
    let mut runs: [Vec<Run>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, command) in commands.iter().enumerate() {
            runs[i].push(compare::run(&host, &port, c, calls[i], redis, command, "fcall").await?);
        }
    }
    let [a, b, m] = runs.map(compare::median);
    report(args, c, a, b, m);
    Ok(())
}

fn report(args: &BenchArgs, c: usize, empty: Run, crowded: Run, minimal: Run) {
    println!(
        "redis-benchmark, {c} clients, every call a refused lock (the env held by someone else), median of {ROUNDS} interleaved rounds:"
    );
    println!(
        "  Baton's lock function, nobody in line      {:>8.0} calls/s, {:>7.1} µs of Redis time per call",
        empty.rps, empty.usec
    );
    println!(
        "  Baton's lock function, {:>4} in line         {:>8.0} calls/s, {:>7.1} µs of Redis time per call",
        args.queued, crowded.rps, crowded.usec
    );
    println!(
        "  minimal informative refusal (FCALL)        {:>8.0} calls/s, {:>7.1} µs of Redis time per call (SET NX PX fails, HGETALL of who, why, since, until)",
        minimal.rps, minimal.usec
    );
    println!(
        "  refusal with {} in line ÷ with nobody, server µs   {:.2}",
        args.queued,
        crowded.usec / empty.usec.max(0.001)
    );
    println!(
        "  Baton's refusal ÷ the minimal refusal, server µs   {:.2}",
        empty.usec / minimal.usec.max(0.001)
    );
}

fn store(redis: &str, prefix: &str) -> anyhow::Result<Store> {
    let config = RedisConfig {
        url: redis.to_string(),
        prefix: prefix.to_string(),
        ..RedisConfig::default()
    };
    // A history as long as the comparison's (`compare::lock_fcall`).
    Store::connect(&config, 500).context("--redis is not a Redis URL")
}

/// Baton's lock call on `env` (its own group), as `store/contracts/locks.rs` writes it.
fn lock_call(store: &Store, env: &EnvName, holder: &str, queue: bool) -> Call {
    let call = store
        .script(scripts::LOCK, env, &[env])
        .arg(holder)
        .arg(holder)
        .arg("baton bench --refused")
        .arg(HOLD_MS)
        .arg(format!("tok-{holder}"))
        .arg("0")
        .arg(if queue { "queue" } else { "lock" });
    if !queue {
        // A plain lock sends none of the line's arguments (`LockArgs`).
        return call;
    }
    // A person's wait: longer than the run.
    call.arg(10_000).arg(HOLD_MS).arg(0).arg("0")
}

/// Takes `env` as the bench's holder (or finds it taken by that holder from an earlier run).
async fn hold(store: &Store, env: &EnvName) -> anyhow::Result<()> {
    let answer: serde_json::Value = store
        .eval(lock_call(store, env, "bench-holder", false))
        .await?;
    match answer["status"].as_str() {
        Some("ok" | "already") => Ok(()),
        _ => bail!("could not hold {env}: {answer}"),
    }
}

/// Puts `n` people in `env`'s line (one pipelined round trip).
async fn line_up(store: &Store, env: &EnvName, n: usize) -> anyhow::Result<()> {
    let calls = (0..n)
        .map(|i| lock_call(store, env, &format!("bench-waiter-{i}"), true))
        .collect();
    let answers: Vec<serde_json::Value> = store.eval_many(calls).await?;
    for answer in answers {
        if !matches!(answer["status"].as_str(), Some("queued" | "already_queued")) {
            bail!("could not line up in {env}: {answer}");
        }
    }
    Ok(())
}

/// Loads the minimal refusal, takes its lock once as someone else, and answers the
/// `redis-benchmark` arguments of a refused call.
async fn minimal_refusal(
    store: &Store,
    layout: &Keys,
    host: &str,
    port: &str,
    redis: &str,
) -> anyhow::Result<Vec<String>> {
    store.function_load(MINIMAL_REFUSAL).await?;
    let env = EnvName::parse("bench-minimal-refusal").expect("a valid name");
    let keys = layout.env(&env, &env).0;
    let call = |holder: &str| -> Vec<String> {
        let (lock, details) = (format!("{}-lock", keys[0]), keys[0].clone());
        let ttl = HOLD_MS.to_string();
        [
            "FCALL",
            "baton_bench_refusal",
            "2",
            &lock,
            &details,
            holder,
            "baton bench --refused",
            &ttl,
            "1700000000000",
            "1700000600000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    compare::run(host, port, 1, 1, redis, &call("bench-holder"), "fcall").await?;
    Ok(call("bench-__rand_int__"))
}
