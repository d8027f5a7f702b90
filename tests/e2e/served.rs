//! `baton serve` as a child process: what a test needs when the instance itself must differ from
//! the test's process (its clock under libfaketime, its start-up log).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support::{TEST_CONFIG, TOKEN_ALL};

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// A running `baton serve` and where it writes its log.
pub struct Served {
    pub base: String,
    log: PathBuf,
    dir: PathBuf,
    _child: Child,
}

/// The test config on `redis_url`, with `extra` TOML appended, the CI token `TOKEN_ALL` (whose
/// identity `ci:all` is a deployer).
pub fn config_text(redis_url: &str, extra: &str) -> String {
    TEST_CONFIG
        .replace("[redis]\n", &format!("[redis]\nurl = \"{redis_url}\"\n"))
        .replace(
            "deployer = [\"console:alice\", \"console:bob\"]",
            "deployer = [\"console:alice\", \"console:bob\", \"ci:all\"]",
        )
        + &format!(
            "\n[[ci.tokens]]\nname = \"all\"\nsha256 = \"{}\"\nenvs = [\"*\"]\n{extra}",
            baton_adapters::ci::sha256_hex(TOKEN_ALL)
        )
}

impl Served {
    /// Starts `baton serve` on `config` with `env` set, and waits until it answers `/healthz`.
    pub async fn start(name: &str, config: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "baton-served-{name}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("baton.toml");
        std::fs::write(&path, config).unwrap();
        let log = dir.join("serve.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BATON)
            .args(["serve", "--config", path.to_str().unwrap(), "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("the baton binary runs");
        let served = Self {
            base: format!("http://127.0.0.1:{port}"),
            log,
            dir,
            _child: child,
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http.get(served.url("/healthz")).send().await.is_ok() {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("baton serve did not start:\n{}", served.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 10 s for a log line containing every one of `words`, and returns it.
    pub async fn log_line(&self, words: &[&str]) -> Option<String> {
        for _ in 0..200 {
            let found = self
                .log()
                .lines()
                .find(|l| words.iter().all(|w| l.contains(w)))
                .map(str::to_string);
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
