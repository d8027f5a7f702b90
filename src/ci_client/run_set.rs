//! `baton ci run --env prod-eu,prod-us -- CMD`: several envs held together while the command
//! runs. The set is taken in one step, all or none (`POST /api/v1/locks`), extended together
//! every TTL/3 (`PATCH`), and released together however the command ends (`DELETE`).
//!
//! With `--wait`, the set waits in every env's line on the server at once, as one waiter, and is
//! granted whole when it is first in all of them (exit 3 when the wait runs out); without it, a
//! set in use exits 3 at once. The command sees `BATON_ENV` (the envs, comma-joined),
//! `BATON_LOCK_TOKEN` (the set's token, which opens each env's gate) and `BATON_FENCES`
//! (`env=fence` pairs, comma-joined).

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use baton_commands::domain::{EnvName, Ttl};
use tokio::process::Command;

use super::api::{joined, Api};
use super::run::{exit_code, shown, wait_passing_signals, Signals};
use super::{Failure, IdempotencyKey, LockRequest, Secret};

/// Takes the set, runs `command`, releases the set; the command's exit code.
pub async fn run(
    api: Api,
    envs: Vec<EnvName>,
    req: LockRequest,
    command: Vec<OsString>,
) -> Result<ExitCode, Failure> {
    let ttl = req
        .ttl
        .expect("`run` always asks for a TTL, so it knows how often to extend");
    let grant = acquire(&api, &envs, &req).await?;
    let token = Secret::from(grant.token.clone());
    let fences: Vec<String> = grant
        .locks
        .iter()
        .map(|l| format!("{}={}", l.env, l.fence))
        .collect();
    let shown_cmd = shown(&command);
    let all = joined(&envs);
    eprintln!(
        "baton: holding {all} as \"{}\" ({}) until {}; running `{shown_cmd}`",
        grant.holder,
        fences.join(", "),
        grant.expires_at
    );
    let mut signals = Signals::install();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .env("BATON_ENV", &all)
        .env("BATON_FENCES", fences.join(","))
        .env("BATON_LOCK_TOKEN", &grant.token)
        .spawn();
    let code = match child {
        Ok(mut child) => {
            let keeper = tokio::spawn(keep_alive(api.once(), envs.clone(), token.clone(), ttl));
            let status = wait_passing_signals(&mut child, &mut signals).await;
            keeper.abort();
            exit_code(status, &shown_cmd)
        }
        Err(e) => {
            eprintln!("baton: could not start `{shown_cmd}`: {e}");
            ExitCode::from(if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            })
        }
    };
    match api.unlock_set(&envs, &token, &IdempotencyKey::new()).await {
        Ok(_) => eprintln!("baton: released {all}"),
        Err(e) => eprintln!(
            "baton: did not release {all}: {e}; the locks end by themselves at their TTL ({ttl})"
        ),
    }
    Ok(code)
}

/// Takes the set: at once, or with `--wait`, waiting in line on the server for all of it.
async fn acquire(
    api: &Api,
    envs: &[EnvName],
    req: &LockRequest,
) -> Result<super::api::GrantedSetAnswer, Failure> {
    if req.wait.is_some() {
        eprintln!("baton: waiting for {} together", joined(envs));
    }
    match api.lock_set(envs, req, &IdempotencyKey::new()).await {
        Ok(grant) => Ok(grant),
        Err(e) if e.code() == Some("refused") => Err(Failure {
            code: 3,
            message: format!("{e}. The command did not run"),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Extends the set by a third of its TTL every third of its TTL; a failure is logged and tried
/// again at the next turn, and never stops the command.
async fn keep_alive(api: Api, envs: Vec<EnvName>, token: Secret, ttl: Ttl) {
    let every = ttl.duration() / 3;
    let by = Ttl::new(every.max(Duration::from_secs(1))).unwrap_or(ttl);
    loop {
        tokio::time::sleep(every).await;
        match api.extend_set(&envs, &token, by).await {
            Ok(extended) => eprintln!(
                "baton: extended {} until {}",
                joined(&envs),
                extended.expires_at
            ),
            Err(e) => eprintln!(
                "baton: could not extend {}: {e}; trying again in {}s",
                joined(&envs),
                every.as_secs()
            ),
        }
    }
}
