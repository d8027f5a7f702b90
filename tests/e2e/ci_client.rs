//! `baton ci`, the real binary: exit codes, the lock token on stdout, and `run` holding a lock
//! while a command runs (extending, passing on SIGTERM, releasing). Most tests talk to a local
//! stand-in of the CI API ([`fake_baton`]) so they exercise the client alone; [`real_server`]
//! runs the same client against the whole service on a throwaway Redis.
//!
//! Children never see the machine's `BATON_*` variables.

mod fake_baton;
mod real_server;
mod retries;

use std::fmt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http::Method;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use fake_baton::{FakeBaton, Fault, API_TOKEN};

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// `baton ci ARGS` pointed at `url` with API token `token` (empty: unset), with none of this
/// machine's `BATON_*` variables, and 2 s of retries unless ARGS say otherwise (`--retry-for`).
pub(crate) fn baton_ci(url: &str, token: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BATON);
    cmd.arg("ci").args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BATON_") {
            cmd.env_remove(&key);
        }
    }
    if !url.is_empty() {
        cmd.env("BATON_URL", url);
    }
    if !token.is_empty() {
        cmd.env("BATON_TOKEN", token);
    }
    cmd.env("BATON_RETRY_FOR", "2s");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// How a `baton ci` run ended.
pub(crate) struct Outcome {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub(crate) async fn finish(mut cmd: tokio::process::Command) -> Outcome {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("baton ci finishes within 60 s")
        .expect("baton runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A URL where nothing listens: a port the OS just handed out and took back.
async fn unreachable_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One row of the exit-code table: where (`fake`, `dead` or no URL), which API token (`good`,
/// `unknown` or none), and the arguments, split on spaces.
type ExitCase = (&'static str, &'static str, &'static str, &'static str, i32);

#[rustfmt::skip] // a table reads best one row a line
const EXIT_CASES: &[ExitCase] = &[
    ("a granted lock", "fake", "good", "lock --env qa", 0),
    ("a lock held by someone else", "fake", "good", "lock --env busy", 3),
    ("a frozen env", "fake", "good", "lock --env frozen", 4),
    ("an env outside the token's scope", "fake", "good", "lock --env forbidden", 5),
    ("an unknown API token", "fake", "unknown", "lock --env qa", 5),
    ("a store outage, after retries", "fake", "good", "lock --env down", 6),
    ("nothing listening at the URL", "dead", "good", "lock --env qa", 6),
    ("no URL at all", "", "good", "lock --env qa", 2),
    ("no API token at all", "fake", "", "lock --env qa", 2),
    ("a TTL that is not a duration", "fake", "good", "lock --env qa --ttl soon", 2),
    ("a retry time that is not a duration", "fake", "good", "lock --env qa --retry-for x", 2),
    ("a malformed idempotency key", "fake", "good", "lock --env qa --idempotency-key a/b", 2),
    ("a gate on someone else's lock", "fake", "good", "gate --env busy", 3),
    ("a gate on the holder's own lock", "fake", "good", "gate --env busy --lock-token busy-token", 0),
    ("a gate on a frozen env", "fake", "good", "gate --env frozen", 4),
    ("a gate on a free env", "fake", "good", "gate --env free", 0),
    ("unlocking what is not locked", "fake", "good", "unlock --env free --lock-token x", 0),
    ("unlocking someone else's lock", "fake", "good", "unlock --env busy --lock-token x", 3),
    ("extending someone else's lock", "fake", "good", "extend --env busy --lock-token x --ttl 5m", 3),
    ("run on someone else's lock", "fake", "good", "run --env busy -- echo ran", 3),
    ("run when Baton is unreachable", "dead", "good", "run --env qa -- echo ran", 6),
];

#[tokio::test]
async fn each_answer_of_the_api_ends_in_its_documented_exit_code() {
    let fake = FakeBaton::start().await;
    fake.hold("busy", "someone");
    let dead = unreachable_url().await;
    for (what, at, token, args, code) in EXIT_CASES {
        let url = match *at {
            "fake" => fake.url.as_str(),
            "dead" => dead.as_str(),
            _ => "",
        };
        let token = match *token {
            "good" => API_TOKEN,
            "unknown" => "baton_not-a-real-token",
            _ => "",
        };
        let args: Vec<&str> = args.split(' ').collect();
        let out = finish(baton_ci(url, token, &args)).await;
        assert_eq!(out.code, Some(*code), "{what}: {out}");
        if *code != 0 {
            let quiet = out.stdout.is_empty();
            assert!(quiet, "{what}: nothing runs, nothing is printed: {out}");
            assert!(!out.stderr.trim().is_empty(), "{what}: says why: {out}");
        }
        if !token.is_empty() {
            let leaked = out.stdout.contains(token) || out.stderr.contains(token);
            assert!(!leaked, "{what}: the API token must never be shown: {out}");
        }
    }
    let refused_runs = fake.calls_to(Method::DELETE, "/locks/busy");
    let only = "only the explicit unlock of busy was sent";
    assert_eq!(refused_runs.len(), 1, "{only}");
}

#[tokio::test]
async fn lock_prints_only_the_lock_token_on_stdout_so_unlock_can_use_it() {
    let fake = FakeBaton::start().await;
    let out = finish(baton_ci(
        &fake.url,
        API_TOKEN,
        &[
            "lock",
            "--env",
            "qa",
            "--ttl",
            "20m",
            "--holder",
            "api deploy #1",
            "--reason",
            "release",
        ],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    let token = fake.granted_token("qa").expect("the fake granted a lock");
    assert_eq!(out.stdout, format!("{token}\n"), "{out}");
    assert!(
        out.stderr.contains("\"api deploy #1\" with fence 1"),
        "{out}"
    );
    let sent = &fake.calls_to(Method::POST, "/locks/qa")[0].body;
    assert_eq!(
        sent["ttl"], 1200,
        "the TTL is sent as whole seconds: {sent}"
    );
    assert_eq!(sent["reason"], "release", "{sent}");
    assert!(sent.get("wait").is_none(), "no wait unless asked: {sent}");

    let mut unlock = baton_ci(&fake.url, API_TOKEN, &["unlock", "--env", "qa"]);
    unlock.env("BATON_LOCK_TOKEN", out.stdout.trim());
    let out = finish(unlock).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(fake.holder("qa"), None, "released");
}

#[tokio::test]
async fn run_exits_with_the_commands_status_and_releases_the_lock_with_its_token() {
    let fake = FakeBaton::start().await;
    let out = finish(baton_ci(
        &fake.url,
        API_TOKEN,
        &["run", "--env", "qa", "--", "sh", "-c", "exit 3"],
    ))
    .await;
    assert_eq!(out.code, Some(3), "{out}");
    let releases = fake.calls_to(Method::DELETE, "/api/v1/locks/qa");
    assert_eq!(releases.len(), 1, "{out}");
    assert_eq!(
        releases[0].body["token"].as_str(),
        fake.granted_token("qa").as_deref(),
        "released with the granted token"
    );
    assert_eq!(fake.holder("qa"), None);
}

#[tokio::test]
async fn run_gives_the_command_its_fence_env_and_lock_token() {
    let fake = FakeBaton::start().await;
    fake.hold("qa", "an earlier deploy");
    fake.expire("qa");

    let script = "echo fence=$BATON_FENCE env=$BATON_ENV token=$BATON_LOCK_TOKEN";
    let out = finish(baton_ci(
        &fake.url,
        API_TOKEN,
        &["run", "--env", "qa", "--", "sh", "-c", script],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "fence=2 env=qa token=lock-qa-2\n", "{out}");
    assert!(
        out.stderr.contains("with fence 2"),
        "the fence is shown: {out}"
    );
}

#[tokio::test]
async fn run_passes_sigterm_to_the_command_releases_the_lock_and_exits_143() {
    let fake = FakeBaton::start().await;
    let mut child = baton_ci(
        &fake.url,
        API_TOKEN,
        &[
            "run",
            "--env",
            "qa",
            "--",
            "sh",
            "-c",
            "echo started; exec sleep 30",
        ],
    )
    .spawn()
    .expect("start baton ci run");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the command starts within 20 s")
        .unwrap();
    assert_eq!(first.as_deref(), Some("started"));

    let started = Instant::now();
    let pid = child.id().expect("baton is running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(kill.expect("run kill").success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("baton ends within 20 s of SIGTERM")
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the sleep was ended, not waited for"
    );
    let releases = fake.calls_to(Method::DELETE, "/locks/qa");
    assert_eq!(releases.len(), 1, "{stderr}");
    assert_eq!(fake.holder("qa"), None, "{stderr}");
}

#[tokio::test]
async fn run_extends_the_lock_every_third_of_its_ttl_while_the_command_runs() {
    let fake = FakeBaton::start().await;
    let out = finish(baton_ci(
        &fake.url,
        API_TOKEN,
        &["run", "--env", "qa", "--ttl", "3s", "--", "sleep", "4"],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    let extends = fake.calls_to(Method::POST, "/locks/qa/extend");
    assert!(
        (2..=5).contains(&extends.len()),
        "about one extension a second for 4 s, got {}: {out}",
        extends.len()
    );
    let token = fake.granted_token("qa").unwrap();
    for call in &extends {
        assert_eq!(call.body["token"].as_str(), Some(token.as_str()));
        // Each adds back the second that passed (extend adds to the expiry): the lock stays
        // about 3 s from now instead of growing by 3 s a second.
        assert_eq!(call.body["ttl"], 1, "{}", call.body);
    }
    assert_eq!(fake.holder("qa"), None, "released at the end");
}

#[tokio::test]
async fn a_failing_extension_is_retried_and_never_stops_the_command() {
    let fake = FakeBaton::start().await;
    fake.fault(
        Method::POST,
        "/extend",
        Fault::Unavailable("store_unavailable"),
        u32::MAX,
    );
    let out = finish(baton_ci(
        &fake.url,
        API_TOKEN,
        &[
            "run",
            "--env",
            "qa",
            "--ttl",
            "3s",
            "--",
            "sh",
            "-c",
            "sleep 2; echo done",
        ],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "done\n", "{out}");
    assert!(
        out.stderr.contains("could not extend the lock on qa"),
        "{out}"
    );
    let extends = fake.calls_to(Method::POST, "/locks/qa/extend");
    assert!(extends.len() >= 2, "retried: {out}");
    assert_eq!(fake.holder("qa"), None, "still released: {out}");
}

#[tokio::test]
async fn token_prints_a_new_token_and_a_snippet_holding_only_its_sha256() {
    let out = finish(baton_ci(
        "",
        "",
        &["token", "--name", "deploy", "--envs", "staging-*, prod"],
    ))
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    let mut lines = out.stdout.lines();
    let token = lines.next().expect("the token comes first");
    assert!(
        token.starts_with("baton_") && token.len() == 6 + 43,
        "{out}"
    );
    let snippet: String = lines.collect::<Vec<_>>().join("\n");
    let expected = format!(
        "[[ci.tokens]]\nname = \"deploy\"\nsha256 = \"{}\"\nenvs = [\"staging-*\", \"prod\"]",
        sha256_hex(token)
    );
    assert_eq!(snippet.trim(), expected, "{out}");

    let again = finish(baton_ci(
        "",
        "",
        &["token", "--name", "deploy", "--envs", "prod"],
    ))
    .await;
    assert_ne!(
        again.stdout.lines().next(),
        Some(token),
        "a new token every time"
    );
}

#[tokio::test]
async fn status_prints_a_table_for_people_and_the_body_with_json() {
    let fake = FakeBaton::start().await;
    fake.hold("qa", "alice");
    let out = finish(baton_ci(&fake.url, API_TOKEN, &["status"])).await;
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ENV  LOCK"), "{out}");
    assert!(
        lines[1].starts_with("qa   alice (fence 1) until 2026-11-26T10:55:00Z"),
        "{out}"
    );

    let out = finish(baton_ci(&fake.url, API_TOKEN, &["status", "--json"])).await;
    assert_eq!(out.code, Some(0), "{out}");
    let body: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(body["envs"][0]["lock"]["holder"], "alice", "{out}");
}
