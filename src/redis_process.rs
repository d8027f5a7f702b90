//! A throwaway `redis-server` on a free port: what `baton dev` runs when no `--redis` is given,
//! and what every test runs (tests never touch a Redis they did not start).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A `redis-server` child process in its own temporary directory, killed on drop.
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    server: String,
}

/// The variable that names the server binary to run instead of `redis-server`: `.ci/run` runs
/// the end-to-end suite a second time with Valkey's `valkey-server` this way.
pub const SERVER_VAR: &str = "BATON_TEST_REDIS_SERVER";

/// The server binary: `$BATON_TEST_REDIS_SERVER`, or `redis-server`.
pub fn server_binary() -> String {
    std::env::var(SERVER_VAR)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "redis-server".into())
}

/// What to say when `redis-server` is not installed.
pub const INSTALL_HINT: &str = "redis-server was not found on PATH. Install it (Debian/Ubuntu: \
`sudo apt-get install -y redis-server`; macOS: `brew install redis`), or point Baton at a Redis \
you already run with `--redis redis://HOST:PORT`";

impl RedisProcess {
    /// Starts `redis-server` on a free loopback port, with no persistence.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts it with extra arguments (e.g. `--appendonly yes`).
    pub fn start_with(extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_server(&server_binary(), extra)
    }

    /// Starts `server` (a path or a name on PATH) rather than [`server_binary`]: for features
    /// only one server build has, such as TLS.
    pub fn start_server(server: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let dir =
                std::env::temp_dir().join(format!("baton-redis-{}-{port}", std::process::id()));
            let mut me = Self {
                child: None,
                port,
                dir,
                extra: extra.iter().map(|s| s.to_string()).collect(),
                server: server.to_string(),
            };
            match me.spawn() {
                Ok(()) => return Ok(me),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut cmd = Command::new(&self.server);
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--dir",
            &self.dir.to_string_lossy(),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]);
        if !self.extra.iter().any(|a| a == "--appendonly") {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.server == "redis-server" => {
                bail!(INSTALL_HINT)
            }
            Err(e) => return Err(e).with_context(|| format!("starting {}", self.server)),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{} exited at start ({status}); is port {} taken?",
                    self.server,
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        bail!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        )
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL: a crash, as far as anyone connected can tell).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`stop`](Self::stop)).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn ping(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
