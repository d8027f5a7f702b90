//! What Redis alone does with the lock, for comparison in the same run: `redis-benchmark` runs
//! Baton's lock function (`FCALL`), then a minimal lock script (`SET NX PX` + `INCR` fence +
//! `HSET` details + `XADD` audit + `PUBLISH`) as an `EVALSHA` and as a function of its own, at the
//! bench's concurrency, each granting a fresh lock on every call (the lock and details keys carry
//! `__rand_int__`; the rest are one env's), in nine interleaved rounds. Server time per call comes
//! from `INFO commandstats` (`fcall` or `evalsha` usec ÷ calls) around each run; each figure is
//! the median round's.

use std::process::Stdio;

use anyhow::{bail, Context};
use baton_commands::domain::EnvName;
use baton_commands::store::{scripts, Keys};

use super::{server_stats, BenchArgs};

/// The minimal lock: what any Redis lock with a fence, an audit trail and an announcement does.
macro_rules! minimal_lock {
    () => {
        "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[3])) then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'holder', ARGV[1], 'fence', fence, 'token', ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 500, '*', 'kind', 'locked', 'holder', ARGV[1], 'fence', fence)
redis.call('PUBLISH', ARGV[4], ARGV[1])
return fence
"
    };
}

/// The minimal lock as a script.
const MINIMAL: &str = concat!("#!lua\n", minimal_lock!());

/// The same minimal lock as a function library of its own, so the comparison also holds call
/// form for call form.
pub(super) const MINIMAL_LIBRARY: &str = concat!(
    "#!lua name=baton_bench_minimal\n",
    "redis.register_function('baton_bench_minimal', function(KEYS, ARGV)\n",
    minimal_lock!(),
    "end)\n"
);

/// One `redis-benchmark` run of one script.
#[derive(Clone, Copy)]
pub struct Run {
    /// Calls per second, as redis-benchmark reports.
    pub rps: f64,
    /// Server time per call, µs.
    pub usec: f64,
}

/// The three runs: Baton's lock function; the minimal script as `EVALSHA`, then as `FCALL`.
pub async fn all(args: &BenchArgs, redis: &str) -> anyhow::Result<(Run, Run, Run)> {
    let (host, port) = host_port(redis)?;
    let layout = Keys::new(&args.prefix);
    let env = EnvName::parse("bench-compare").expect("a valid name");
    // A fresh lock each call: the one key a call sends (the lock's details) carries
    // `__rand_int__`; the env's other keys, which the prelude names from it, are one env's for
    // every call (their shared stem), as before the key names were derived. Each call also
    // names a new env's keys (a lock's details never seen), which calls on configured envs reuse.
    let lockmeta = layout.lockmeta(&env, &env);
    let keys = [format!("{lockmeta}-__rand_int__")];
    let fresh = env.as_str().to_string();
    let baton = lock_fcall(&layout, &fresh, &keys, "bench", "tok-__rand_int__");
    let store = baton_store(redis)?;
    let sha = store.script_load(MINIMAL).await?;
    store.function_load(MINIMAL_LIBRARY).await?;
    // Keys of its own: the minimal details lack fields Baton's function reads.
    let other = EnvName::parse("bench-minimal").expect("a valid name");
    let mine = layout.env(&other, &other).0;
    // Each form's lock keys are its own: redis-benchmark may draw the same `__rand_int__`
    // sequence in two runs, and a lock left by the other form would make `SET NX` fail early.
    let minimal_call = |how: &str, what: &str| -> Vec<String> {
        let lock = format!("{}-{}", mine[0], how.to_ascii_lowercase());
        [
            how,
            what,
            "4",
            &format!("{lock}-token-__rand_int__"),
            &mine[2],
            &format!("{lock}-__rand_int__"),
            &mine[5],
            "bench",
            "tok-__rand_int__",
            "60000",
            &layout.events_channel(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // Baton's library must be loaded before redis-benchmark calls it by name.
    store.load_scripts().await?;
    let as_script = minimal_call("EVALSHA", &sha);
    let as_function = minimal_call("FCALL", "baton_bench_minimal");
    // Interleaved rounds, so a slow spell of the machine (another process, a busy neighbour on
    // a shared host) falls on all three alike; each figure is the median of its rounds.
    let (mut ours, mut theirs, mut theirs_fn) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let c = args.concurrency;
        ours.push(run(&host, &port, c, CALLS, redis, &baton, "fcall").await?);
        theirs.push(run(&host, &port, c, CALLS, redis, &as_script, "evalsha").await?);
        theirs_fn.push(run(&host, &port, c, CALLS, redis, &as_function, "fcall").await?);
    }
    Ok((median(ours), median(theirs), median(theirs_fn)))
}

/// `FCALL` of Baton's lock function on `keys` (`env`'s) in `lock` mode, as `redis-benchmark`
/// arguments: ARGV as lock.lua reads it (store/contracts/locks.rs): the prelude's env, channel,
/// history length, idempotency fingerprint; holder, display, reason, ttl, token, admin, mode (a
/// plain lock sends no more).
pub(super) fn lock_fcall(
    layout: &Keys,
    env: &str,
    keys: &[String],
    holder: &str,
    token: &str,
) -> Vec<String> {
    let mut call = vec![
        "FCALL".to_string(),
        scripts::LOCK.name().to_string(),
        keys.len().to_string(),
    ];
    call.extend(keys.iter().cloned());
    let channel = layout.events_channel();
    let argv = [
        env, &channel, "500", "", holder, "bench", "reason", "60000", token, "0",
        // A plain lock sends none of the line's arguments (`LockArgs`).
        "lock",
    ];
    call.extend(argv.iter().map(|a| a.to_string()));
    call
}

/// Rounds of each comparison run, `CALLS` calls each.
pub(super) const ROUNDS: usize = 9;
const CALLS: usize = 40_000;

/// The round with the median server time.
pub(super) fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.usec.total_cmp(&b.usec));
    runs.swap_remove(runs.len() / 2)
}

pub(super) fn baton_store(redis: &str) -> anyhow::Result<baton_commands::store::Store> {
    let config = baton_commands::config::RedisConfig {
        url: redis.to_string(),
        ..Default::default()
    };
    baton_commands::store::Store::connect(&config, 0).context("--redis is not a Redis URL")
}

/// `calls` calls of `command` from `clients` connections; the server time per call is that of
/// `stat` (`fcall` or `evalsha`) in `INFO commandstats`.
pub(super) async fn run(
    host: &str,
    port: &str,
    clients: usize,
    calls: usize,
    redis: &str,
    command: &[String],
    stat: &str,
) -> anyhow::Result<Run> {
    let before = server_stats(redis).await?;
    let out = tokio::process::Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-c", &clients.to_string()])
        .args(["-n", &calls.to_string(), "-r", "100000000", "--csv"])
        .args(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .await
        .context("running redis-benchmark (it comes with redis-server)")?;
    let after = server_stats(redis).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `"test","rps",…` then one row: the rps is the second field.
    let rps = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').nth(1))
        .and_then(|f| f.trim_matches('"').parse::<f64>().ok())
        .with_context(|| format!("redis-benchmark said: {text}"))?;
    let (b, a) = (
        before.commands.get(stat).copied().unwrap_or_default(),
        after.commands.get(stat).copied().unwrap_or_default(),
    );
    let calls = a.calls.saturating_sub(b.calls).max(1);
    Ok(Run {
        rps,
        usec: a.usec.saturating_sub(b.usec) as f64 / calls as f64,
    })
}

/// `redis://host:port[/db]` → host and port, for redis-benchmark's `-h` and `-p`.
pub(super) fn host_port(redis: &str) -> anyhow::Result<(String, String)> {
    let rest = redis
        .strip_prefix("redis://")
        .context("the comparison needs a plain redis://host:port URL")?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    match hostport.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), p.to_string())),
        None if !hostport.is_empty() => Ok((hostport.to_string(), "6379".into())),
        None => bail!("no host in --redis"),
    }
}
