//! The real `baton` binary: `config check`, `exec` against a test Redis, and a newcomer's first
//! `baton dev`. Children never see the machine's `BATON_*` variables.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use baton::redis_process::RedisProcess;
use tokio::io::AsyncWriteExt;

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// A file in the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(content: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("baton-cli-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, content).expect("write temp config");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `baton ARGS` with none of this machine's `BATON_*` variables.
fn baton(args: &[&str]) -> Command {
    let mut cmd = Command::new(BATON);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BATON_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run baton");
    let code = status.code().expect("baton exited on its own");
    (
        code,
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

/// Line numbers matter: the problems below are asserted on lines 3, 6, 10 and 19.
const BROKEN_CONFIG: &str = r#"[server]
listen = "127.0.0.1:8080"
colour = "blue"

[defaults]
default_ttl = "3x"

[[envs]]
name = "qa"
default_ttl = "2h"
max_ttl = "1h"

[[pools]]
name = "staging"
members = ["s1", "s2"]

[[pools]]
name = "review"
members = ["s2", "r1"]
"#;

#[test]
fn config_check_lists_every_problem_with_its_file_and_line_and_exits_2() {
    let file = TempFile::new(BROKEN_CONFIG);
    let path = file.path().to_str().expect("utf-8 temp path");
    let (code, stdout, stderr) = run(&mut baton(&["config", "check", "--config", path]));
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stdout.contains("OK"), "{stdout}");
    for (what, line, says) in [
        ("an unknown key", 3, "unknown key `server.colour`"),
        ("a bad duration", 6, "`3x` is not a duration"),
        (
            "a default above the max",
            10,
            "default_ttl 2h (set in [[envs]]) is above max_ttl 1h",
        ),
        ("an env in two pools", 19, "env `s2` is in two pools"),
    ] {
        let found = stderr
            .lines()
            .any(|l| l.starts_with(&format!("{path}:{line}: ")) && l.contains(says));
        assert!(found, "{what}: no `{path}:{line}: …{says}…` in\n{stderr}");
    }
}

#[test]
fn config_check_passes_the_documented_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let (code, stdout, stderr) = run(&mut baton(&["config", "check", "--config", example]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("{example}: OK")), "{stdout}");
    // Each freeze window with its next occurrences, in its zone and in UTC.
    assert!(
        stdout.contains("freeze window `weekend` (prod; Europe/Berlin)"),
        "{stdout}"
    );
    let fridays = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("Fri ") && l.contains("→ Mon "))
        .count();
    assert_eq!(fridays, 3, "three coming weekends: {stdout}");
}

#[test]
fn exec_locks_for_the_first_user_and_refuses_the_second_with_exit_code_1() {
    let redis = RedisProcess::start().expect("redis-server must be installed for the tests");
    let config = TempFile::new(&format!(
        "[redis]\nurl = \"{}\"\n\n[[envs]]\nname = \"prod\"\n\n[roles]\ndeployer = [\"console:alice\"]\n",
        redis.url()
    ));
    let path = config.path().to_str().expect("utf-8 temp path");

    let exec = |user: &str| {
        run(&mut baton(&[
            "exec", "--config", path, "--as", user, "lock", "prod", "30m", "hotfix",
        ]))
    };
    let (code, stdout, stderr) = exec("alice");
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("alice locked prod for 30m"), "{stdout}");
    assert!(stdout.contains("hotfix"), "{stdout}");

    let (code, stdout, stderr) = exec("bob");
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("prod is locked by alice since"), "{stdout}");
    assert!(stdout.contains(": hotfix"), "{stdout}");
}

#[tokio::test]
async fn a_newcomers_first_baton_dev_locks_prod_and_quits_cleanly() {
    let mut cmd = tokio::process::Command::from(baton(&["dev", "--listen", "127.0.0.1:0"]));
    cmd.env("USER", "newcomer")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start baton dev");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"lock prod 30m testing\nstatus\nquit\n")
        .await
        .expect("type into the console");
    drop(stdin);

    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("baton dev quits within 30 s")
        .expect("baton dev runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(stdout.contains("Baton dev is running."), "{stdout}");
    assert!(
        stdout.contains("you are   console:newcomer (admin)"),
        "{stdout}"
    );
    assert!(stdout.contains("newcomer locked prod for 30m"), "{stdout}");
    assert!(
        stdout.contains("prod       newcomer (30m left): testing"),
        "status shows the lock:\n{stdout}"
    );
}

/// URLs `serve` would reject fail `config check` too, and neither ever prints the password.
#[test]
fn config_check_and_serve_refuse_bad_redis_urls_without_printing_the_password() {
    for url in [
        "redis://:hunter2secret@127.0.0.1:notaport",
        "rediss://app:hunter2secret@127.0.0.1:6380#bogus",
        "http://:hunter2secret@127.0.0.1",
    ] {
        let file = TempFile::new(&format!("[redis]\nurl = \"{url}\"\n"));
        let config = file.path().to_str().unwrap();
        for args in [
            vec!["config", "check", "--config", config],
            vec!["serve", "--config", config, "--listen", "127.0.0.1:0"],
        ] {
            let (code, stdout, stderr) = run(&mut baton(&args));
            assert_eq!(code, 2, "{args:?} {url}: {stdout}{stderr}");
            assert!(stderr.contains("redis.url"), "{args:?}: {stderr}");
            let all = format!("{stdout}{stderr}");
            assert!(
                !all.contains("hunter2secret"),
                "{args:?} printed the password: {all}"
            );
        }
        let args = ["serve", "--listen", "127.0.0.1:0", "--redis", url];
        let (code, stdout, stderr) = run(&mut baton(&args));
        assert_eq!(code, 2, "--redis {url}: {stdout}{stderr}");
        assert!(
            !format!("{stdout}{stderr}").contains("hunter2secret"),
            "{stderr}"
        );
    }
}

/// A URL mistyped past parsing (the scheme lost its `:`, the host its `@`) is still redacted,
/// whether it comes from the file or from `BATON_REDIS__URL`.
#[test]
fn config_check_never_prints_the_password_of_a_url_too_broken_to_parse() {
    for url in [
        "redis//:S3cretPW@host",
        "redis//:S3cretPW@host:6379/0",
        "redis:/:S3cretPW@host",
        "redis://:S3cretPW",
        "redis//:S3cretPW",
    ] {
        let file = TempFile::new(&format!("[redis]\nurl = \"{url}\"\n"));
        let config = file.path().to_str().unwrap();
        let (code, stdout, stderr) = run(&mut baton(&["config", "check", "--config", config]));
        assert_eq!(code, 2, "{url}: {stdout}{stderr}");
        assert!(stderr.contains("redis.url"), "{url}: {stderr}");
        assert!(
            !format!("{stdout}{stderr}").contains("S3cretPW"),
            "{url} in the file: {stdout}{stderr}"
        );
        let (code, stdout, stderr) = run(baton(&["config", "check"]).env("BATON_REDIS__URL", url));
        assert_eq!(code, 2, "{url}: {stdout}{stderr}");
        assert!(stderr.contains("BATON_REDIS__URL"), "{url}: {stderr}");
        assert!(
            !format!("{stdout}{stderr}").contains("S3cretPW"),
            "{url} in BATON_REDIS__URL: {stdout}{stderr}"
        );
    }
}

#[test]
fn config_check_warns_about_unreadable_certificate_files_and_passes() {
    let file = TempFile::new(
        "[redis]\nurl = \"rediss://:hunter2secret@127.0.0.1:6380\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n\
         tls_client_cert = \"/nonexistent/client.pem\"\ntls_client_key = \"/nonexistent/client.key\"\n",
    );
    let (code, stdout, stderr) = run(&mut baton(&[
        "config",
        "check",
        "--config",
        file.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    for key in [
        "redis.tls_ca_file",
        "redis.tls_client_cert",
        "redis.tls_client_key",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning:") && l.contains(key) && l.contains("cannot read")),
            "{key}: {stderr}"
        );
    }
    assert!(!format!("{stdout}{stderr}").contains("hunter2secret"));
}
