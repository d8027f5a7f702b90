//! `baton ci`: the client CI pipelines use to take, hold and release deploy locks through Baton's
//! HTTP API (docs/ci-api.md). Every outcome ends in one of the documented exit codes, so a
//! pipeline can branch on them without parsing text.
//!
//! - [`api`]: the HTTP calls, each one operation retried under `--retry-for`.
//! - [`error`]: how each answer or failure maps to an exit code, and which are retried.
//! - [`retry`]: idempotency keys, backoff and the deadline of one operation's retries.
//! - [`run`]: `baton ci run`, which holds a lock for as long as a command runs.
//! - [`status`]: the `baton ci status` table.
//! - [`token`]: `baton ci token`, a new API token and its config snippet.
//!
//! Every state change carries an `Idempotency-Key`, the same on each of its retries, so a retry
//! after a lost answer gets the original outcome rather than a conflict with itself.
//!
//! The API token is a secret: it is never printed, logged, or put into an error message.

mod api;
mod error;
mod retry;
mod run;
mod run_set;
mod status;
mod token;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use baton_commands::domain::{EnvName, Ttl};
use clap::{Args, Subcommand};

pub use api::Api;
pub use error::ApiError;
pub use retry::{IdempotencyKey, Patience};

/// `baton ci …`: exit codes 0 ok · 2 usage or config · 3 locked by someone else · 4 frozen ·
/// 5 unauthorized or forbidden · 6 Baton unreachable or its store unavailable, after retrying for
/// `--retry-for`, with the outcome said to be known or unknown.
#[derive(Subcommand, Debug)]
pub enum CiCmd {
    /// Take an env's lock; prints the lock token alone on stdout (`TOKEN=$(baton ci lock …)`).
    Lock {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        lock: LockArgs,
        /// Repeat an earlier `lock` whose outcome was unknown: with the key it printed and the
        /// same options, Baton answers with that request's original outcome.
        #[arg(long, value_parser = IdempotencyKey::parse)]
        idempotency_key: Option<IdempotencyKey>,
    },
    /// Release a lock taken with `baton ci lock`; releasing a lock that is already gone is fine.
    Unlock {
        #[command(flatten)]
        conn: Conn,
        /// The environment.
        #[arg(long, value_parser = EnvName::parse)]
        env: EnvName,
        #[command(flatten)]
        lock_token: LockToken,
    },
    /// Push a held lock's expiry back by TTL (at most to the env's max TTL from now).
    Extend {
        #[command(flatten)]
        conn: Conn,
        /// The environment.
        #[arg(long, value_parser = EnvName::parse)]
        env: EnvName,
        #[command(flatten)]
        lock_token: LockToken,
        /// How much longer, like 20m.
        #[arg(long, value_parser = Ttl::parse)]
        ttl: Ttl,
    },
    /// Show locks, claims, freezes, queues and last deploys.
    Status {
        #[command(flatten)]
        conn: Conn,
        /// Only this environment.
        #[arg(long, value_parser = EnvName::parse)]
        env: Option<EnvName>,
        /// Print Baton's JSON answer as it came.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when a deploy to ENV may go ahead: 3 when someone else holds it, 4 when frozen.
    Gate {
        #[command(flatten)]
        conn: Conn,
        /// The environment.
        #[arg(long, value_parser = EnvName::parse)]
        env: EnvName,
        /// The token of the lock this pipeline holds, if it holds one: that lock does not block
        /// it (`baton ci run` gives its command BATON_LOCK_TOKEN). A name proves nothing.
        #[arg(long = "lock-token", env = "BATON_LOCK_TOKEN", hide_env_values = true)]
        lock_token: Option<Secret>,
    },
    /// Hold ENV's lock while CMD runs: extend it every TTL/3, release it when CMD ends, exit
    /// with CMD's status. CMD sees BATON_ENV, BATON_FENCE and BATON_LOCK_TOKEN.
    ///
    /// # Format
    /// `baton ci run --env prod [--ttl 20m] [--wait 10m] -- ./deploy.sh args…`
    Run {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        lock: LockArgs,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Make a new API token: prints it once, with the `[[ci.tokens]]` snippet for Baton's config.
    Token {
        /// The token's name; the pipeline acts as `ci:<name>`.
        #[arg(long)]
        name: String,
        /// Envs the token may touch, comma-separated; globs allowed (`staging-*,prod`).
        #[arg(long)]
        envs: String,
    },
}

/// Where Baton is and who we are to it. Optional for clap so that `baton ci token` needs neither;
/// the subcommands that call Baton check them and say what is missing.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Baton's base URL, like https://baton.example.com.
    #[arg(long, env = "BATON_URL")]
    url: Option<String>,
    /// API token (prefer the BATON_TOKEN variable: a flag shows in the process list).
    #[arg(long, env = "BATON_TOKEN", hide_env_values = true)]
    token: Option<Secret>,
    /// How long to keep retrying a request Baton did not answer, or answered 503, on top of any
    /// --wait; 0 sends each request once.
    #[arg(long, env = "BATON_RETRY_FOR", value_parser = parse_wait, default_value = "60s")]
    retry_for: Duration,
    /// How long one request may take before it counts as unanswered (a waiting lock gets its
    /// wait on top).
    #[arg(long, env = "BATON_REQUEST_TIMEOUT", value_parser = parse_timeout, default_value = "15s")]
    request_timeout: Duration,
}

/// The lock token a `lock` printed, for `unlock` and `extend`.
#[derive(Args, Debug, Clone)]
pub struct LockToken {
    /// The token `baton ci lock` printed.
    #[arg(long = "lock-token", env = "BATON_LOCK_TOKEN", hide_env_values = true)]
    lock_token: Secret,
}

/// What to ask for when taking a lock (`lock` and `run`).
#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// The environment. `run` also takes several joined by commas (`prod-eu,prod-us`), held
    /// together: all of them or none.
    #[arg(long, value_parser = parse_envs)]
    env: Envs,
    /// How long the lock lasts, like 20m. `lock`: the env's default when absent. `run`: 20m when
    /// absent, extended every TTL/3 while CMD runs.
    #[arg(long, value_parser = Ttl::parse)]
    ttl: Option<Ttl>,
    /// How long to wait in line for the lock before giving up with exit code 3 (default: no wait).
    #[arg(long, value_parser = parse_wait)]
    wait: Option<Duration>,
    /// Why, for people looking at `status`.
    #[arg(long)]
    reason: Option<String>,
    /// A label for people, like "api deploy #1234" (default: the pipeline, or this host).
    #[arg(long)]
    holder: Option<String>,
}

/// The API token: the core's one `Secret` type, never shown by `Debug` or `Display`.
pub use baton_commands::domain::Secret;

/// A failure that ends `baton ci`: the sentence to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code per docs/ci-api.md.
    pub code: u8,
    /// One sentence for the person reading the CI log.
    pub message: String,
}

impl Failure {
    /// Exit 2: the command line or the configuration is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Runs one `baton ci` subcommand; the exit code follows docs/ci-api.md.
pub async fn run(action: CiCmd) -> anyhow::Result<ExitCode> {
    Ok(match dispatch(action).await {
        Ok(code) => code,
        Err(f) => {
            eprintln!("baton: {}", f.message);
            ExitCode::from(f.code)
        }
    })
}

async fn dispatch(action: CiCmd) -> Result<ExitCode, Failure> {
    match action {
        CiCmd::Lock {
            conn,
            lock,
            idempotency_key,
        } => {
            let api = conn.api("lock")?;
            lock_once(&api, lock.request()?, idempotency_key).await
        }
        CiCmd::Unlock {
            conn,
            env,
            lock_token,
        } => {
            let api = conn.api("unlock")?;
            unlock(&api, &env, &lock_token.lock_token).await
        }
        CiCmd::Extend {
            conn,
            env,
            lock_token,
            ttl,
        } => {
            let api = conn.api("extend")?;
            let key = IdempotencyKey::new();
            let extended = api.extend(&env, &lock_token.lock_token, ttl, &key).await?;
            eprintln!(
                "baton: extended the lock on {env} (fence {}) until {}",
                extended.fence, extended.expires_at
            );
            Ok(ExitCode::SUCCESS)
        }
        CiCmd::Status { conn, env, json } => {
            let api = conn.api("status")?;
            let body = api.envs(env.as_ref()).await?;
            if json {
                println!("{body}");
            } else {
                print!("{}", status::table(&body)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        CiCmd::Gate {
            conn,
            env,
            lock_token,
        } => {
            let api = conn.api("gate")?;
            api.gate(&env, lock_token.as_ref()).await?;
            let whose = if lock_token.is_some() {
                "this pipeline holds it or no one does"
            } else {
                "no one holds it"
            };
            eprintln!("baton: {env} is open: {whose}, and it is not frozen");
            Ok(ExitCode::SUCCESS)
        }
        CiCmd::Run {
            conn,
            lock,
            command,
        } => {
            let api = conn.api("run")?;
            let envs = lock.env.0.clone();
            if envs.len() > 1 {
                return run_set::run(api, envs, lock.request_for_run(), command).await;
            }
            run::run(api, lock.request_for_run(), command).await
        }
        CiCmd::Token { name, envs } => token::print_new(&name, &envs),
    }
}

/// `baton ci lock`: the token alone on stdout; an unknown outcome says how to learn it.
async fn lock_once(
    api: &Api,
    req: LockRequest,
    key: Option<IdempotencyKey>,
) -> Result<ExitCode, Failure> {
    let key = key.unwrap_or_default();
    let grant = match api.lock(&req, &key).await {
        Ok(grant) => grant,
        Err(e) if e.outcome_unknown() => {
            let env = &req.env;
            return Err(Failure {
                code: e.exit_code(),
                message: format!(
                    "{e}. If {env} was locked, it is held for this request until its TTL runs out: \
                     `baton ci status --env {env}` shows it, and the same `baton ci lock` again \
                     with `--idempotency-key {}` answers the original outcome with its token",
                    key.as_str()
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "baton: locked {} for \"{}\" with fence {} until {}",
        grant.env, grant.holder, grant.fence, grant.expires_at
    );
    println!("{}", grant.token);
    Ok(ExitCode::SUCCESS)
}

/// `baton ci unlock`: releasing a lock that is already gone is fine.
async fn unlock(api: &Api, env: &EnvName, lock_token: &Secret) -> Result<ExitCode, Failure> {
    match api.unlock(env, lock_token, &IdempotencyKey::new()).await {
        Ok(released) => {
            match released.next {
                Some(next) => eprintln!("baton: released {env}; it passed to {next}"),
                None => eprintln!("baton: released {env}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.code() == Some("not_locked") => {
            eprintln!("baton: {env} was not locked, so there was nothing to release");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

impl Conn {
    /// The API client, or a usage failure naming what is missing.
    fn api(&self, subcommand: &str) -> Result<Api, Failure> {
        let url = self.url.as_deref().filter(|u| !u.trim().is_empty());
        let Some(url) = url else {
            return Err(Failure::usage(format!(
                "`baton ci {subcommand}` needs Baton's address: pass --url or set BATON_URL"
            )));
        };
        let token = self
            .token
            .as_ref()
            .filter(|t| !t.expose().trim().is_empty());
        let Some(token) = token else {
            return Err(Failure::usage(format!(
                "`baton ci {subcommand}` needs an API token: set BATON_TOKEN (or pass --token); `baton ci token` makes one"
            )));
        };
        let patience = Patience {
            retry_for: self.retry_for,
            request_timeout: self.request_timeout,
        };
        Api::new(url.trim(), token.clone(), patience)
    }
}

/// A lock request as the API takes it.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The environment.
    pub env: EnvName,
    /// The label people see.
    pub holder: String,
    /// None: the env's default.
    pub ttl: Option<Ttl>,
    /// None: answer at once.
    pub wait: Option<Duration>,
    /// Why.
    pub reason: Option<String>,
}

/// The TTL `run` asks for when none is given: short enough that a runner that dies frees the env
/// soon, long enough to ride out a brief Baton outage between extensions.
const RUN_DEFAULT_TTL: Duration = Duration::from_secs(20 * 60);

/// `--env`: one env, or several joined by commas.
#[derive(Clone, Debug)]
pub struct Envs(Vec<EnvName>);

fn parse_envs(raw: &str) -> Result<Envs, String> {
    let mut envs: Vec<EnvName> = Vec::new();
    for item in raw.split(',') {
        let env = EnvName::parse(item)?;
        if envs
            .iter()
            .any(|e| e.as_str().eq_ignore_ascii_case(env.as_str()))
        {
            return Err(format!("`{env}` is named twice"));
        }
        envs.push(env);
    }
    if envs.len() > baton_commands::grammar::MAX_SET {
        return Err(format!(
            "at most {} envs can be held together",
            baton_commands::grammar::MAX_SET
        ));
    }
    Ok(Envs(envs))
}

impl LockArgs {
    /// The one env of `lock`: a list is for `run`.
    fn request(self) -> Result<LockRequest, Failure> {
        if self.env.0.len() > 1 {
            return Err(Failure::usage(
                "`baton ci lock` takes one env; `baton ci run --env a,b -- CMD` holds several together",
            ));
        }
        Ok(self.request_of_first())
    }

    fn request_of_first(self) -> LockRequest {
        LockRequest {
            env: self.env.0[0].clone(),
            holder: self.holder.unwrap_or_else(default_holder),
            ttl: self.ttl,
            wait: self.wait,
            reason: self.reason,
        }
    }

    fn request_for_run(self) -> LockRequest {
        let mut req = self.request_of_first();
        req.ttl = req.ttl.or(Ttl::new(RUN_DEFAULT_TTL));
        req
    }
}

/// How long to wait for a lock: a humantime duration, zero allowed (meaning: do not wait).
fn parse_wait(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw)
        .map_err(|_| format!("`{raw}` is not a duration: use a duration like 30s, 10m or 1h"))
}

/// A request's time limit: a humantime duration of at least a second.
fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let d = parse_wait(raw)?;
    if d < Duration::from_secs(1) {
        return Err(format!("`{raw}` is too short: a request needs at least 1s"));
    }
    Ok(d)
}

/// The label a lock gets when `--holder` is absent: the pipeline run, so people can find it.
pub fn default_holder() -> String {
    holder_from(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

fn holder_from(var: impl Fn(&str) -> Option<String>) -> String {
    if let (Some(repo), Some(run)) = (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        return format!("{repo} run {run}");
    }
    if let (Some(project), Some(pipeline)) = (var("CI_PROJECT_PATH"), var("CI_PIPELINE_ID")) {
        return format!("{project} pipeline {pipeline}");
    }
    format!("baton ci on {}", hostname())
}

#[cfg(unix)]
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if rc == 0 && len > 0 {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    } else {
        "an unknown host".into()
    }
}

#[cfg(not(unix))]
fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_else(|_| "an unknown host".into())
}

#[cfg(test)]
mod tests {
    use super::holder_from;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_default_holder_names_the_pipeline_run() {
        let github = [("GITHUB_REPOSITORY", "acme/api"), ("GITHUB_RUN_ID", "42")];
        assert_eq!(holder_from(vars(&github)), "acme/api run 42");
        let gitlab = [("CI_PROJECT_PATH", "acme/web"), ("CI_PIPELINE_ID", "7")];
        assert_eq!(holder_from(vars(&gitlab)), "acme/web pipeline 7");
        assert!(holder_from(vars(&[])).starts_with("baton ci on "));
    }
}
