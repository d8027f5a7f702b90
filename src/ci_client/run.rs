//! `baton ci run`: take a lock, run a command while holding it, release it however the command
//! ends, and exit with the command's status.
//!
//! Taking and releasing the lock are each one operation with its own idempotency key, retried
//! within `--retry-for`: a retry whose first attempt did take effect gets the original answer, so
//! `run` never refuses its own lock and never leaves one behind while Baton can be reached. The
//! command runs exactly once, and only after the lock is known to be granted.
//!
//! The lock is extended every TTL/3 in the background. A failed extension is retried and logged
//! but never stops the command: the TTL is there to ride out a brief Baton outage. SIGTERM,
//! SIGINT and SIGHUP are passed on to the command, so a cancelled CI job still ends in a release.

use std::ffi::OsString;
use std::io;
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use baton_commands::domain::{EnvName, Ttl};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::api::Grant;
use super::{Api, Failure, IdempotencyKey, LockRequest, Secret};

/// Acquires, runs `command`, releases. Fails (without running anything) only if the lock is not
/// granted; after that the exit code is the command's.
pub async fn run(api: Api, req: LockRequest, command: Vec<OsString>) -> Result<ExitCode, Failure> {
    let ttl = req
        .ttl
        .expect("`run` always asks for a TTL, so it knows how often to extend");
    let mut grant = acquire(&api, &req, ttl).await?;
    let env = req.env;
    let lock_token = Secret::from(grant.token.clone());
    // A grant with little left (a retry that found the lock granted long ago) is extended before
    // the command starts, and the command never starts on a lock that may end under it.
    if grant.expires_in_ms.is_some_and(|left| left < margin(ttl)) {
        grant.expires_at = fresh(&api, &env, &lock_token, ttl).await?;
    }
    let shown = shown(&command);
    eprintln!(
        "baton: holding {env} as \"{}\" with fence {} until {}; running `{shown}`",
        grant.holder, grant.fence, grant.expires_at
    );

    // Installed before the child starts, so a signal arriving in between is passed on, not lost.
    let mut signals = Signals::install();
    let (expiry, expires_at) = watch::channel(grant.expires_at.clone());
    let child = Command::new(&command[0])
        .args(&command[1..])
        .env("BATON_ENV", env.as_str())
        .env("BATON_FENCE", grant.fence.to_string())
        .env("BATON_LOCK_TOKEN", &grant.token)
        .spawn();
    let code = match child {
        Ok(mut child) => {
            let keeper = tokio::spawn(keep_alive(
                api.once(),
                env.clone(),
                lock_token.clone(),
                ttl,
                expiry,
            ));
            let status = wait_passing_signals(&mut child, &mut signals).await;
            keeper.abort();
            exit_code(status, &shown)
        }
        Err(e) => {
            eprintln!("baton: could not start `{shown}`: {e}");
            // The shell's codes: 127 not found, 126 found but not runnable.
            ExitCode::from(if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            })
        }
    };
    let expires_at = expires_at.borrow().clone();
    release(&api, &env, &lock_token, &expires_at).await;
    Ok(code)
}

/// The least a grant must have left, by Redis' clock, for the command to start on it without an
/// extension first: the first extension comes after a third of the TTL.
fn margin(ttl: Ttl) -> u64 {
    ttl.duration().as_millis() as u64 / 3 + 2_000
}

/// Extends a grant that has too little left before the command starts; the new expiry. If it
/// cannot be extended (it ended, or Baton cannot be reached), the command does not run.
async fn fresh(api: &Api, env: &EnvName, token: &Secret, ttl: Ttl) -> Result<String, Failure> {
    match api.extend(env, token, ttl, &IdempotencyKey::new()).await {
        Ok(extended) => Ok(extended.expires_at),
        Err(e) => Err(Failure {
            code: e.exit_code(),
            message: format!(
                "{e}. The command did not run: the lock on {env} had too little time left to \
                 start on, and could not be extended"
            ),
        }),
    }
}

/// Takes the lock, retrying with one idempotency key so a retry never refuses our own lock.
async fn acquire(api: &Api, req: &LockRequest, ttl: Ttl) -> Result<Grant, Failure> {
    let env = &req.env;
    match api.lock(req, &IdempotencyKey::new()).await {
        Ok(grant) => Ok(grant),
        Err(e) if e.outcome_unknown() => Err(Failure {
            code: e.exit_code(),
            message: format!(
                "{e}. The command did not run. If {env} was locked, it stays held for this run \
                 until its TTL ({ttl}) runs out; `baton ci status --env {env}` shows it"
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Waits for the child, passing on every signal Baton receives meanwhile.
pub(super) async fn wait_passing_signals(
    child: &mut Child,
    signals: &mut Signals,
) -> io::Result<ExitStatus> {
    loop {
        tokio::select! {
            status = child.wait() => return status,
            sig = signals.next() => {
                // `id()` is None once the child is reaped, so the pid cannot have been reused.
                if let Some(pid) = child.id() {
                    pass_on(pid, sig);
                }
            }
        }
    }
}

/// The command's status as Baton's own: its code, or 128 + the signal that killed it.
pub(super) fn exit_code(status: io::Result<ExitStatus>, shown: &str) -> ExitCode {
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("baton: lost track of `{shown}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(code) = status.code() {
        return ExitCode::from(code as u8);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            eprintln!("baton: `{shown}` was ended by signal {sig}");
            return ExitCode::from(128u8.wrapping_add(sig as u8));
        }
    }
    ExitCode::FAILURE
}

/// Extends the lock every TTL/3 until aborted, publishing each new expiry; failures are told,
/// retried sooner (with the same idempotency key, and so the same request, until one succeeds),
/// never fatal. `api` sends each request once: this loop is the retry.
///
/// An extension adds to the lock's current expiry, so each one adds only what brings the lock
/// back to TTL from now: the time since the lock was last known to run for a whole TTL. (Adding
/// the whole TTL every third of it would grow the lock until the env's `max_ttl` refused.)
async fn keep_alive(
    api: Api,
    env: EnvName,
    token: Secret,
    ttl: Ttl,
    expiry: watch::Sender<String>,
) {
    let every = ttl.duration() / 3;
    let retry = (every / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let mut next = every;
    // When the lock last ran for a whole TTL from then (the grant, or the last extension).
    let mut whole = tokio::time::Instant::now();
    // The extension in flight: its key and how much it adds, kept across its retries.
    let mut pending: Option<(IdempotencyKey, Ttl)> = None;
    loop {
        tokio::time::sleep(next).await;
        let (key, by) = pending.get_or_insert_with(|| (IdempotencyKey::new(), top_up(whole, ttl)));
        match api.extend(&env, &token, *by, key).await {
            Ok(extended) => {
                expiry.send_replace(extended.expires_at);
                // The lock now runs until `whole + TTL + by`: a whole TTL from `whole + by`.
                whole += by.duration();
                next = every;
                pending = None;
            }
            Err(e) if matches!(e.code(), Some("not_locked" | "not_holder")) => {
                eprintln!(
                    "baton: the lock on {env} is no longer ours ({e}); the command keeps running without it"
                );
                return;
            }
            Err(e) if e.is_refusal() => {
                eprintln!(
                    "baton: the lock on {env} cannot be extended ({e}); it ends at {}, the command keeps running",
                    *expiry.borrow()
                );
                return;
            }
            Err(e) => {
                eprintln!(
                    "baton: could not extend the lock on {env} ({e}); trying again in {}; it holds until {}",
                    humantime::format_duration(retry),
                    *expiry.borrow()
                );
                next = retry;
            }
        }
    }
}

/// How much to add so the lock runs a whole TTL from now again: the time since it last did, in
/// whole seconds as the API takes them (the nearest, at least one, at most the TTL). What is lost
/// or gained in rounding is made up by the next one, which counts from what was added.
fn top_up(whole: tokio::time::Instant, ttl: Ttl) -> Ttl {
    let secs = (whole.elapsed().as_millis() as u64 + 500) / 1000;
    let by = Duration::from_secs(secs.max(1)).min(ttl.duration());
    Ttl::new(by).unwrap_or(ttl)
}

/// Releases the lock, retrying with one idempotency key within `--retry-for`, so a release whose
/// answer was lost is answered, not refused. Never fails: a lock that cannot be released still
/// expires with its TTL, and stderr says so.
async fn release(api: &Api, env: &EnvName, token: &Secret, expires_at: &str) {
    match api.unlock(env, token, &IdempotencyKey::new()).await {
        Ok(released) => match released.next {
            Some(next) => eprintln!("baton: released {env}; it passed to {next}"),
            None => eprintln!("baton: released {env}"),
        },
        Err(e) if e.code() == Some("not_locked") => {
            eprintln!("baton: {env} was no longer locked, so there was nothing to release");
        }
        Err(e) if e.is_refusal() => {
            eprintln!("baton: did not release the lock on {env}: {e}");
        }
        Err(e) => {
            eprintln!("baton: {e}");
            eprintln!(
                "baton: the lock on {env} may still be held until its TTL runs out, at {expires_at}"
            );
        }
    }
}

/// The command as people typed it, for messages.
pub(super) fn shown(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The signals a CI runner or a person uses to stop a job.
#[cfg(unix)]
pub(super) struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    pub(super) fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let catch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("baton: cannot catch {name} ({e}); it will not be passed on");
                None
            }
        };
        Self {
            term: catch(SignalKind::terminate(), "SIGTERM"),
            int: catch(SignalKind::interrupt(), "SIGINT"),
            hup: catch(SignalKind::hangup(), "SIGHUP"),
        }
    }

    /// The next signal received, as its number.
    async fn next(&mut self) -> i32 {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            if let Some(s) = s {
                if s.recv().await.is_some() {
                    return;
                }
            }
            std::future::pending().await
        }
        tokio::select! {
            () = one(&mut self.term) => libc::SIGTERM,
            () = one(&mut self.int) => libc::SIGINT,
            () = one(&mut self.hup) => libc::SIGHUP,
        }
    }
}

#[cfg(unix)]
fn pass_on(pid: u32, sig: i32) {
    eprintln!("baton: passing signal {sig} on to the command (pid {pid})");
    // SAFETY: kill(2) has no memory effects; `pid` is our unreaped child, so it is still ours.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        eprintln!(
            "baton: could not pass signal {sig} on: {}",
            io::Error::last_os_error()
        );
    }
}

/// Elsewhere there is nothing to catch: the command is waited for.
#[cfg(not(unix))]
pub(super) struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub(super) fn install() -> Self {
        Self
    }

    async fn next(&mut self) -> i32 {
        std::future::pending().await
    }
}

#[cfg(not(unix))]
fn pass_on(_pid: u32, _sig: i32) {}
