//! `baton bench`: a load generator against a running Baton. Each worker runs lock/unlock cycles
//! (or chat commands) through the HTTP API for a fixed time; the report gives throughput,
//! latency percentiles, and, with `--redis`, Redis commands per operation from `INFO
//! commandstats`, plus the `redis-benchmark` line that runs the same function at the same
//! concurrency for comparison. With `--redis` it also runs that comparison itself (`compare`):
//! `redis-benchmark` on Baton's lock function and on a minimal lock script, in the same run.
//! `--idle` measures instead what Baton costs Redis while nothing happens (`idle`).
//!
//! Issue 26's pairs, each a cost beside what it should not grow with, or beside the least that
//! does the same work: `--waiters` (Redis' cost of CI requests waiting in line, by how many wait,
//! `waiters`), `--refused` (Baton's refusal with an empty line and a long one, and beside the
//! minimal informative refusal, `refused`), and `--floor` (Baton's HTTP API refusing a lock beside
//! the thinnest HTTP service making the same Redis call, `floor`).

mod compare;
mod floor;
mod grant;
mod http;
mod idle;
mod refused;
mod waiters;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use baton_commands::config::RedisConfig;
use baton_commands::store::tools::ServerStats;
use baton_commands::store::Store;
use clap::Args;

/// `baton bench` options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Baton's base URL (not with `--idle`, which starts its own instances, nor `--refused` or
    /// `--grant`, which drive Redis alone).
    #[arg(long, env = "BATON_URL", required_unless_present_any = ["idle", "refused", "grant"])]
    url: Option<String>,
    /// A CI token that may lock the envs.
    #[arg(
        long,
        env = "BATON_TOKEN",
        hide_env_values = true,
        required_unless_present_any = ["idle", "refused", "grant"]
    )]
    token: Option<String>,
    /// Redis to read `INFO commandstats` from (commands per operation).
    #[arg(long)]
    redis: Option<String>,
    /// Envs to cycle on; worker i uses env i mod n (one env: every worker contends). With
    /// `--idle`, how many envs the started instances are configured with.
    #[arg(long, value_delimiter = ',', default_value = "qa")]
    envs: Vec<String>,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Baton's key prefix (`redis.prefix`), for the `redis-benchmark` comparison line.
    #[arg(long, default_value = "baton")]
    prefix: String,
    /// Drive chat commands (`lock`/`unlock` through /api/v1/commands) instead of the lock API.
    #[arg(long)]
    chat: bool,
    /// Ask the deploy gate (`GET /api/v1/gate/{env}`, a read) instead of locking.
    #[arg(long, conflicts_with = "chat")]
    gate: bool,
    /// The `baton serve` process (on this machine) whose CPU time per request to report, from
    /// `/proc/<pid>/stat`.
    #[arg(long)]
    pid: Option<u32>,
    /// Measure what Baton costs `--redis` while nothing happens: start `--instances` copies of
    /// `baton serve` with `--envs` (a count) envs and report Redis commands/s and CPU/s.
    #[arg(long, requires = "redis")]
    idle: bool,
    /// With `--idle`: how many instances to start.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Measure what CI requests waiting in line cost `--redis` while nothing else happens: for
    /// each count, that many `wait` requests for the first of `--envs` (held by the bench), over
    /// `--duration`. The server's `defaults.queue_limit` must allow the largest count.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "redis",
        conflicts_with_all = ["idle", "refused", "floor"]
    )]
    waiters: Vec<usize>,
    /// Server time of Baton's lock function refusing a held env, with an empty line and with
    /// `--queued` waiting, beside the minimal informative refusal (`redis-benchmark`, Redis only).
    #[arg(long, requires = "redis", conflicts_with_all = ["idle", "floor"])]
    refused: bool,
    /// Server time of Baton's lock function granting, beside the minimal lock (Redis only): on a
    /// never-seen lock every call (`redis-benchmark`), and on known envs locked and released.
    #[arg(long, requires = "redis", conflicts_with_all = ["idle", "floor", "refused"])]
    grant: bool,
    /// With `--refused`: how many wait in the long line.
    #[arg(long, default_value_t = 500)]
    queued: usize,
    /// Baton's `POST /api/v1/locks` on a held env (every answer a 423) beside a bare HTTP service
    /// that makes the same Redis call (started in this process), at the same concurrency.
    #[arg(long, requires = "redis", conflicts_with = "idle")]
    floor: bool,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    by_status: BTreeMap<u16, u64>,
    cycles: u64,
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.idle {
        idle::run(&args).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.refused {
        refused::run(&args).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.grant {
        let redis = args.redis.as_deref().context("--grant needs --redis")?;
        grant_pairs(&args, redis, None).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.concurrency == 0 || args.envs.is_empty() {
        bail!("--concurrency must be at least 1 and --envs must name at least one env");
    }
    let (Some(url), Some(token)) = (&args.url, &args.token) else {
        bail!("--url and --token name the Baton to drive");
    };
    let target = http::Target::new(url, token)?;
    http::Conn::new(target.clone())
        .send(hyper::Method::GET, "/readyz", None)
        .await?;
    if !args.waiters.is_empty() {
        waiters::run(&args, target).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.floor {
        floor::run(&args, target).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let before = match &args.redis {
        Some(url) => Some(commandstats(url).await?),
        None => None,
    };

    let cpu_before = args.pid.map(cpu_time).transpose()?;
    let started = Instant::now();
    let mode = if args.chat {
        Mode::Chat
    } else if args.gate {
        Mode::Gate
    } else {
        Mode::Lock
    };
    let envs: Vec<String> = (0..args.concurrency)
        .map(|i| args.envs[i % args.envs.len()].clone())
        .collect();
    let tally = load(target, envs, mode, started + args.duration).await?;
    let elapsed = started.elapsed();
    let cpu = match (args.pid, cpu_before) {
        (Some(pid), Some(before)) => Some(cpu_time(pid)?.saturating_sub(before)),
        _ => None,
    };
    let after = match &args.redis {
        Some(url) => Some(commandstats(url).await?),
        None => None,
    };
    report(&args, &tally, elapsed, before.zip(after));
    if let Some(cpu) = cpu {
        let requests = tally.latencies.len().max(1) as f64;
        println!(
            "  baton serve   {:.1} µs of CPU per request ({:.2} s of CPU in {:.1} s, user + system)",
            cpu.as_secs_f64() * 1e6 / requests,
            cpu.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
    if let Some(redis) = &args.redis {
        let ops = tally.latencies.len() as f64 / elapsed.as_secs_f64();
        grant_pairs(&args, redis, Some(ops)).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The grant beside the minimal lock, in Redis alone: `redis-benchmark` granting a never-seen
/// lock on every call (`compare`), then locks of known envs (`grant`); with the HTTP run's
/// requests per second, how near the API came to the function.
async fn grant_pairs(args: &BenchArgs, redis: &str, http_ops: Option<f64>) -> anyhow::Result<()> {
    let (ours, minimal, minimal_fn) = compare::all(args, redis).await?;
    println!(
        "redis-benchmark in the same run, {} clients, each call granting a fresh lock:",
        args.concurrency
    );
    println!(
        "  Baton's lock function (FCALL)    {:.0} calls/s, {:.1} µs of Redis time per call",
        ours.rps, ours.usec
    );
    println!("  minimal lock script (EVALSHA)    {:.0} calls/s, {:.1} µs of Redis time per call (SET NX PX, INCR, HSET, XADD, PUBLISH)", minimal.rps, minimal.usec);
    println!(
        "  the same as a function (FCALL)   {:.0} calls/s, {:.1} µs of Redis time per call",
        minimal_fn.rps, minimal_fn.usec
    );
    if let Some(ops) = http_ops {
        println!(
            "  HTTP API ÷ Baton's function through redis-benchmark   {:.2}",
            ops / ours.rps.max(1.0)
        );
    }
    println!(
        "  Baton's function ÷ minimal script, server µs         {:.2} (÷ the minimal function: {:.2})",
        ours.usec / minimal.usec.max(0.001),
        ours.usec / minimal_fn.usec.max(0.001)
    );
    let (ours, minimal) = grant::run(args, redis).await?;
    println!(
        "the grant on envs already known ({} clients; each round locks {} free envs once each, then releases them):",
        args.concurrency,
        grant::ENVS
    );
    println!(
        "  Baton's lock function (FCALL)    {:.0} calls/s, {:.1} µs of Redis time per call",
        ours.rps, ours.usec
    );
    println!(
        "  minimal lock function (FCALL)    {:.0} calls/s, {:.1} µs of Redis time per call",
        minimal.rps, minimal.usec
    );
    println!(
        "  Baton's function ÷ the minimal function, server µs   {:.2}",
        ours.usec / minimal.usec.max(0.001)
    );
    Ok(())
}

/// Runs one worker per entry of `envs` (its env) until `deadline`, and adds up their tallies.
async fn load(
    target: http::Target,
    envs: Vec<String>,
    mode: Mode,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    // The workers run on one thread of their own, as `redis-benchmark` does: on a multi-thread
    // runtime every request would also wake a second thread (a futex call each way), CPU taken
    // from the server being measured on the same cores.
    let load = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Tally>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let workers: Vec<_> = envs
                .into_iter()
                .enumerate()
                .map(|(i, env)| {
                    let conn = http::Conn::new(target.clone());
                    tokio::spawn(worker(conn, env, i, mode, deadline))
                })
                .collect();
            let mut tallies = Vec::with_capacity(workers.len());
            for w in workers {
                tallies.push(w.await??);
            }
            Ok(tallies)
        })
    });
    let mut tally = Tally::default();
    for t in load.await?? {
        tally.latencies.extend(t.latencies);
        tally.cycles += t.cycles;
        for (status, n) in t.by_status {
            *tally.by_status.entry(status).or_default() += n;
        }
    }
    Ok(tally)
}

/// What each worker does in a loop.
#[derive(Clone, Copy)]
enum Mode {
    /// `POST` then `DELETE /api/v1/locks/{env}`.
    Lock,
    /// `lock` then `unlock` through `/api/v1/commands`.
    Chat,
    /// `GET /api/v1/gate/{env}`.
    Gate,
}

/// User + system CPU time of process `pid` so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat")).context("--pid must be a process on this machine")
}

/// User + system CPU time so far from a `stat` file of `/proc` (a process's, or one thread's
/// under `/proc/self/task`).
fn stat_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // After the command name in parentheses: state is field 3, utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let total = ticks(11) + ticks(12);
    Ok(Duration::from_micros(total * 1_000_000 / per_second))
}

async fn worker(
    mut conn: http::Conn,
    env: String,
    i: usize,
    mode: Mode,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    use baton_adapters::ci::api_types::{CommandBody, Granted, LockBody, TokenBody};
    use hyper::Method;

    let mut t = Tally::default();
    let timed = |status: u16, since: Instant, t: &mut Tally| {
        t.latencies.push(since.elapsed());
        *t.by_status.entry(status).or_default() += 1;
    };
    // Each request's parts, prepared once: the load generator spends as little as it can. The
    // bodies are the API's own types, as `baton ci` sends them.
    let holder = format!("bench worker {i}");
    let lock_path = format!("/api/v1/locks/{env}");
    let gate_path = format!("/api/v1/gate/{env}");
    let lock_body = json(&LockBody {
        holder: Some(holder),
        ttl: Some(Duration::from_secs(60)),
        reason: Some("baton bench".into()),
        wait: None,
    });
    let chat_lock = json(&CommandBody {
        text: format!("lock {env} 1m bench"),
    });
    let chat_unlock = json(&CommandBody {
        text: format!("unlock {env}"),
    });
    while Instant::now() < deadline {
        let since = Instant::now();
        match mode {
            Mode::Gate => {
                let (status, _) = conn.send(Method::GET, &gate_path, None).await?;
                timed(status, since, &mut t);
            }
            Mode::Chat => {
                let path = "/api/v1/commands";
                let (status, _) = conn
                    .send(Method::POST, path, Some(chat_lock.clone()))
                    .await?;
                timed(status, since, &mut t);
                if status == 200 {
                    let since = Instant::now();
                    let (status, _) = conn
                        .send(Method::POST, path, Some(chat_unlock.clone()))
                        .await?;
                    timed(status, since, &mut t);
                    t.cycles += 1;
                }
            }
            Mode::Lock => {
                let (status, body) = conn
                    .send(Method::POST, &lock_path, Some(lock_body.clone()))
                    .await?;
                timed(status, since, &mut t);
                if status == 200 {
                    let token = serde_json::from_slice::<Granted>(&body)
                        .with_context(|| format!("a grant without a token: {body:?}"))?
                        .token;
                    let since = Instant::now();
                    let unlock = json(&TokenBody { token });
                    let (status, _) = conn.send(Method::DELETE, &lock_path, Some(unlock)).await?;
                    timed(status, since, &mut t);
                    t.cycles += 1;
                } else if status != 423 {
                    bail!("lock answered {status}: {}", String::from_utf8_lossy(&body));
                }
            }
        }
    }
    Ok(t)
}

/// `cmdstat_<name>` → calls, from the Redis at `url`.
async fn commandstats(url: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let stats = server_stats(url).await?;
    Ok(stats
        .commands
        .into_iter()
        .map(|(k, c)| (k, c.calls))
        .collect())
}

/// `INFO commandstats cpu` of the Redis at `url`.
async fn server_stats(url: &str) -> anyhow::Result<ServerStats> {
    let config = RedisConfig {
        url: url.to_string(),
        ..RedisConfig::default()
    };
    let store = Store::connect(&config, 0).context("--redis is not a Redis URL")?;
    store
        .server_stats()
        .await
        .context("reading INFO commandstats from --redis")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(
    args: &BenchArgs,
    t: &Tally,
    elapsed: Duration,
    stats: Option<(BTreeMap<String, u64>, BTreeMap<String, u64>)>,
) {
    let mut sorted = t.latencies.clone();
    sorted.sort();
    let ops = sorted.len() as f64;
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mode = if args.chat {
        "chat commands (lock/unlock via /api/v1/commands)"
    } else if args.gate {
        "deploy gate (GET /api/v1/gate)"
    } else {
        "lock API (POST + DELETE /api/v1/locks)"
    };
    println!(
        "baton bench: {mode}, {} workers on {} env(s), {:.1} s",
        args.concurrency,
        args.envs.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  requests      {} ({:.0}/s)",
        sorted.len(),
        ops / elapsed.as_secs_f64()
    );
    println!(
        "  lock cycles   {} ({:.0}/s)",
        t.cycles,
        t.cycles as f64 / elapsed.as_secs_f64()
    );
    let statuses: Vec<String> = t
        .by_status
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("  statuses      {}", statuses.join(", "));
    println!(
        "  latency       p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 90.0)),
        ms(percentile(&sorted, 99.0)),
        ms(sorted.last().copied().unwrap_or_default())
    );
    if let Some((before, after)) = stats {
        let delta = |name: &str| {
            after
                .get(name)
                .unwrap_or(&0)
                .saturating_sub(*before.get(name).unwrap_or(&0))
        };
        let total: u64 = after
            .keys()
            .filter(|k| k.as_str() != "info")
            .map(|k| delta(k))
            .sum();
        let calls = delta("fcall") + delta("evalsha");
        println!("  redis         {:.2} round trips (FCALL) per request; {:.1} commands per request including those inside functions", calls as f64 / ops.max(1.0), total as f64 / ops.max(1.0));
        let mut top: Vec<(String, u64)> = after
            .keys()
            .map(|k| (k.clone(), delta(k)))
            .filter(|(k, n)| *n > 0 && k != "info")
            .collect();
        top.sort_by_key(|t| std::cmp::Reverse(t.1));
        let top: Vec<String> = top
            .iter()
            .take(8)
            .map(|(k, n)| format!("{k} {:.2}", *n as f64 / ops.max(1.0)))
            .collect();
        println!("                per request: {}", top.join(", "));
    }
    println!("Compare with Redis alone running the lock function at the same concurrency:");
    println!("  {}", redis_benchmark_line(args));
}

/// The `redis-benchmark` command that runs the lock function (a `locked` answer, the common case
/// under contention) `-c` times concurrently on the first env, as a single-env group: the call
/// `compare` makes, with the one key a call sends (the lock's details).
fn redis_benchmark_line(args: &BenchArgs) -> String {
    use baton_commands::domain::EnvName;
    use baton_commands::store::Keys;
    let env = &args.envs[0];
    let layout = Keys::new(&args.prefix);
    let name = match EnvName::parse(env) {
        Ok(name) => name,
        Err(e) => return format!("(no comparison: {e})"),
    };
    let keys = [layout.lockmeta(&name, &name)];
    let call = compare::lock_fcall(
        &layout,
        env,
        &keys,
        "bench-__rand_int__",
        "tok-__rand_int__",
    );
    let shown: Vec<String> = call
        .iter()
        .map(|a| {
            if a.is_empty() {
                "\"\"".to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    format!(
        "redis-benchmark -h HOST -p PORT -c {} -n 200000 {}",
        args.concurrency,
        shown.join(" ")
    )
}

/// Takes `env`'s lock through the API for longer than any run, as someone else than the
/// bench's requests (each of those is a holder of its own), and answers its token.
async fn hold(conn: &mut http::Conn, env: &str) -> anyhow::Result<String> {
    use baton_adapters::ci::api_types::{Granted, LockBody};
    let body = json(&LockBody {
        holder: Some("bench holder".into()),
        ttl: Some(Duration::from_secs(3600)),
        reason: Some("held by baton bench".into()),
        wait: None,
    });
    let path = format!("/api/v1/locks/{env}");
    let (status, body) = conn.send(hyper::Method::POST, &path, Some(body)).await?;
    if status != 200 {
        bail!(
            "could not hold {env} for the run ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice::<Granted>(&body)
        .with_context(|| format!("a grant without a token: {body:?}"))?
        .token)
}

/// Gives back what [`hold`] took.
async fn release(conn: &mut http::Conn, env: &str, token: &str) -> anyhow::Result<()> {
    use baton_adapters::ci::api_types::TokenBody;
    let body = json(&TokenBody {
        token: token.to_string(),
    });
    let path = format!("/api/v1/locks/{env}");
    let (status, body) = conn.send(hyper::Method::DELETE, &path, Some(body)).await?;
    if status != 200 {
        bail!(
            "could not unlock {env} after the run ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// A request body as the API reads it.
fn json(body: &impl serde::Serialize) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(body).expect("the API's bodies serialize"))
}
