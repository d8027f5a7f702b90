//! The command line. Configuration comes from a TOML file, then `BATON_<SECTION>__<KEY>`
//! environment variables over it, then the flags here.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config_args::{load_or_report, ConfigArgs};
use crate::{app, console, dev};

/// ChatOps deploy locks and staging claims on Redis, from Slack, Discord, Teams, Mattermost and CI.
#[derive(Parser, Debug)]
#[command(name = "baton", version, about)]
pub struct Cli {
    /// Log format on stderr: `text` for people, `json` for log pipelines.
    #[arg(long, global = true, env = "BATON_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the service: HTTP API, health checks and the expiry sweeper.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Redis URL (overrides redis.url).
        #[arg(long)]
        redis: Option<String>,
    },
    /// Zero-config local run: throwaway redis-server, demo data, HTTP on 127.0.0.1:8080, console.
    Dev {
        /// Use this Redis instead of starting a throwaway redis-server.
        #[arg(long)]
        redis: Option<String>,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Who you are in the console (made an admin).
        #[arg(long = "as", env = "USER", default_value = "dev")]
        user: String,
    },
    /// Type chat commands as a user, against the configured Redis.
    Console {
        #[command(flatten)]
        config: ConfigArgs,
        /// Who you are (`alice` means `console:alice`; or a full identity like `slack:U123`).
        #[arg(long = "as", env = "USER", default_value = "console")]
        user: String,
    },
    /// Run one chat command and print the reply; exit 0 on success, 1 when refused.
    Exec {
        #[command(flatten)]
        config: ConfigArgs,
        /// Who runs it.
        #[arg(long = "as")]
        user: String,
        /// The command, e.g. "lock prod 30m hotfix".
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Slack app tools (`baton slack manifest --url URL`).
    Slack {
        /// What to do.
        #[command(subcommand)]
        action: crate::platforms::slack::SlackCmd,
    },
    /// Discord application tools (`baton discord register`).
    Discord {
        /// What to do.
        #[command(subcommand)]
        action: crate::platforms::discord::DiscordCmd,
    },
    /// Microsoft Teams tools (`baton teams manifest --app-id ID --url URL`).
    Teams {
        /// What to do.
        #[command(subcommand)]
        action: crate::platforms::teams::TeamsCmd,
    },
    /// Load generator: lock/unlock cycles through the HTTP API; throughput, latency, Redis cost.
    Bench(crate::bench::BenchArgs),
    /// Configuration tools.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// CI client of the HTTP API: lock, unlock, extend, status, gate, run, token.
    Ci {
        /// What to do.
        #[command(subcommand)]
        action: crate::ci_client::CiCmd,
    },
}

/// `baton config …`.
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a config file and report every problem, with line numbers where possible.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Also fetch the `[web]` issuer's discovery document, to see Baton can reach it.
        #[arg(long)]
        reach_issuer: bool,
    },
}

/// Runs the parsed command line; the exit code follows ARCHITECTURE.md (2: usage or config).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Serve {
            config,
            listen,
            redis,
        } => serve(&config, listen, redis).await,
        Cmd::Dev {
            redis,
            listen,
            user,
        } => {
            dev::run(redis, listen, &user).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Console { config, user } => {
            let Some(cfg) = load_or_report(&config) else {
                return Ok(ExitCode::from(2));
            };
            console::run(&app::build(&cfg)?, &user).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec { config, user, text } => {
            let Some(cfg) = load_or_report(&config) else {
                return Ok(ExitCode::from(2));
            };
            let baton = app::build(&cfg)?;
            let ok = console::exec(&baton, &user, &text.join(" ")).await;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Ci { action } => crate::ci_client::run(action).await,
        Cmd::Bench(args) => crate::bench::run(args).await,
        Cmd::Slack { action } => crate::platforms::slack::run(action).await,
        Cmd::Teams { action } => crate::platforms::teams::run(action).await,
        Cmd::Discord { action } => crate::platforms::discord::run(action).await,
        Cmd::Config {
            action:
                ConfigCmd::Check {
                    config,
                    reach_issuer,
                },
        } => Ok(config_check(&config, reach_issuer).await),
    }
}

/// `baton serve`: HTTP (CI API, platforms, health) and the background work, until a signal.
async fn serve(
    config: &ConfigArgs,
    listen: Option<std::net::SocketAddr>,
    redis: Option<String>,
) -> anyhow::Result<ExitCode> {
    let Some(mut cfg) = load_or_report(config) else {
        return Ok(ExitCode::from(2));
    };
    if let Some(url) = redis {
        cfg.redis.url = url;
        // The flag gets the same checks as the file, so a bad URL stops here, redacted.
        let problems = cfg.validate();
        if !problems.is_empty() {
            for p in problems {
                eprintln!("--redis: {}", p.message);
            }
            return Ok(ExitCode::from(2));
        }
    }
    for warning in cfg.warnings() {
        tracing::warn!("{warning}");
    }
    let addr = listen.unwrap_or(cfg.server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, envs = cfg.all_envs().len(), "baton serving");
    let baton = app::build(&cfg)?;
    app::run(&cfg, baton, listener, app::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// `baton config check`: every problem at once (exit 2), or a one-line summary.
async fn config_check(config: &ConfigArgs, reach_issuer: bool) -> ExitCode {
    match config.load() {
        Ok(cfg) => {
            for warning in cfg.warnings() {
                eprintln!("warning: {warning}");
            }
            let source = config
                .config
                .as_deref()
                .map(Path::display)
                .map(|d| d.to_string());
            println!(
                "{}: OK ({} envs, {} pools)",
                source.unwrap_or_else(|| "<defaults>".into()),
                cfg.all_envs().len(),
                cfg.pools.len()
            );
            let now = chrono::Utc::now();
            for window in cfg.windows() {
                println!("{}", window.summary(now, 3));
            }
            // Which envs lock together (`config check` refuses a group Redis Cluster cannot take
            // in one call, so every group listed here can).
            for group in &cfg.groups {
                let envs: Vec<&str> = group.envs.iter().map(|e| e.as_str()).collect();
                println!(
                    "group {}: `lock {}` takes {} together, all or none",
                    group.name,
                    group.name,
                    envs.join(", ")
                );
            }
            if reach_issuer && !issuer_reached(&cfg).await {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

/// `config check --reach-issuer`: the `[web]` issuer's discovery document, fetched and checked.
async fn issuer_reached(cfg: &baton_commands::Config) -> bool {
    let Some(issuer) = cfg.web.issuer.as_deref().filter(|_| cfg.web.enabled) else {
        eprintln!("--reach-issuer: [web] is not enabled with an issuer; nothing to reach");
        return false;
    };
    let http = baton_adapters::web::oidc::http_client();
    match baton_adapters::web::oidc::discover(&http, issuer).await {
        Ok(d) => {
            let logout = match d.end_session_endpoint {
                Some(_) => "offers RP-initiated logout",
                None => "offers no sign-out endpoint (signing out ends Baton's session only)",
            };
            println!("web: the issuer {issuer} answers; it {logout}");
            true
        }
        Err(e) => {
            eprintln!("web.issuer: {e}");
            false
        }
    }
}
