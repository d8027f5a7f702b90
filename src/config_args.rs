//! Where the configuration comes from, shared by every subcommand that reads it (`serve`,
//! `console`, `exec`, `config check`, `discord register`).

use std::path::PathBuf;

use baton_commands::config::Config;
use clap::Args;

/// Where the configuration comes from.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// TOML config file (see config.example.toml). Without one, defaults and BATON_* variables apply.
    #[arg(long, short, env = "BATON_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> Result<Config, baton_commands::config::ConfigErrors> {
        Config::load(self.config.as_deref(), std::env::vars())
    }
}

/// The config, or `None` after printing every problem with it.
pub fn load_or_report(args: &ConfigArgs) -> Option<Config> {
    match args.load() {
        Ok(c) => Some(c),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("(run `baton config check` for the same list)");
            None
        }
    }
}
