//! `baton ci run`: take a lock, run a command while holding it, release it however the command
//! ends, and exit with the command's status.
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
use tokio::time::Instant;

use super::{Api, Failure, LockRequest, Secret};

/// How long to keep trying to release after the command ended, when Baton is unreachable.
const RELEASE_FOR: Duration = Duration::from_secs(10);

/// Acquires, runs `command`, releases. Fails (without running anything) only if the lock is not
/// granted; after that the exit code is the command's.
pub async fn run(api: Api, req: LockRequest, command: Vec<OsString>) -> Result<ExitCode, Failure> {
    let ttl = req
        .ttl
        .expect("`run` always asks for a TTL, so it knows how often to extend");
    let grant = api.lock(&req).await?;
    let env = req.env;
    let lock_token = Secret::from(grant.token.clone());
    let shown = shown(&command);
    eprintln!(
        "baton: holding {env} as \"{}\" with fence {} until {}; running `{shown}`",
        grant.holder, grant.fence, grant.expires_at
    );

    // Installed before the child starts, so a signal arriving in between is passed on, not lost.
    let mut signals = Signals::install();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .env("BATON_ENV", env.as_str())
        .env("BATON_FENCE", grant.fence.to_string())
        .env("BATON_LOCK_TOKEN", &grant.token)
        .spawn();
    let code = match child {
        Ok(mut child) => {
            let keeper = tokio::spawn(keep_alive(
                api.clone(),
                env.clone(),
                lock_token.clone(),
                ttl,
                grant.expires_at,
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
    release(&api, &env, &lock_token, ttl).await;
    Ok(code)
}

/// Waits for the child, passing on every signal Baton receives meanwhile.
async fn wait_passing_signals(child: &mut Child, signals: &mut Signals) -> io::Result<ExitStatus> {
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
fn exit_code(status: io::Result<ExitStatus>, shown: &str) -> ExitCode {
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

/// Extends the lock every TTL/3 until aborted; failures are told, retried sooner, never fatal.
async fn keep_alive(api: Api, env: EnvName, token: Secret, ttl: Ttl, mut expires_at: String) {
    let every = ttl.duration() / 3;
    let retry = (every / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let mut next = every;
    loop {
        tokio::time::sleep(next).await;
        match api.extend(&env, &token, ttl).await {
            Ok(extended) => {
                expires_at = extended.expires_at;
                next = every;
            }
            Err(e) if e.is_transient() => {
                eprintln!(
                    "baton: could not extend the lock on {env} ({e}); trying again in {}; it holds until {expires_at}",
                    humantime::format_duration(retry)
                );
                next = retry;
            }
            Err(e) if matches!(e.code(), Some("not_locked" | "not_holder")) => {
                eprintln!(
                    "baton: the lock on {env} is no longer ours ({e}); the command keeps running without it"
                );
                return;
            }
            Err(e) => {
                eprintln!(
                    "baton: the lock on {env} cannot be extended ({e}); it ends at {expires_at}, the command keeps running"
                );
                return;
            }
        }
    }
}

/// Releases the lock, retrying for about ten seconds while Baton is unreachable. Never fails: a
/// lock that cannot be released still expires with its TTL.
async fn release(api: &Api, env: &EnvName, token: &Secret, ttl: Ttl) {
    let deadline = Instant::now() + RELEASE_FOR;
    let mut pause = Duration::from_millis(500);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = left.clamp(Duration::from_secs(1), Duration::from_secs(5));
        match api.unlock_within(env, token, limit).await {
            Ok(released) => {
                match released.next {
                    Some(next) => eprintln!("baton: released {env}; it passed to {next}"),
                    None => eprintln!("baton: released {env}"),
                }
                return;
            }
            Err(e) if e.code() == Some("not_locked") => {
                eprintln!("baton: {env} was no longer locked, so there was nothing to release");
                return;
            }
            Err(e) if e.is_transient() && Instant::now() + pause < deadline => {
                eprintln!("baton: could not release {env} yet ({e}); trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                eprintln!(
                    "baton: could not release the lock on {env} ({e}); it expires by itself within {ttl}"
                );
                return;
            }
        }
    }
}

/// The command as people typed it, for messages.
fn shown(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The signals a CI runner or a person uses to stop a job.
#[cfg(unix)]
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
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
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn next(&mut self) -> i32 {
        std::future::pending().await
    }
}

#[cfg(not(unix))]
fn pass_on(_pid: u32, _sig: i32) {}
