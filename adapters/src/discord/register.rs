//! `baton discord register`: puts `/baton` on Discord, in one guild (visible at once, for
//! testing) or globally. The payload is checked against Discord's limits first, so a grammar
//! that outgrew them is named here rather than in a 400 from Discord.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

use super::commands::definition;
use super::limits;
use super::rest::{Rest, RestError};

/// Why registration failed.
#[derive(Debug)]
pub enum RegisterError {
    /// The generated command breaks Discord's limits.
    Limits(Vec<String>),
    /// Discord refused or could not be reached.
    Rest(RestError),
    /// Discord's answer about the application had no id.
    NoApplicationId,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Limits(p) => write!(
                f,
                "the /baton command breaks Discord's limits:\n  {}",
                p.join("\n  ")
            ),
            RegisterError::Rest(e) => e.fmt(f),
            RegisterError::NoApplicationId => {
                f.write_str("Discord did not say the application's id; set discord.application_id")
            }
        }
    }
}

impl std::error::Error for RegisterError {}

/// The application command payload, as registration sends it (a list of one command).
pub fn payload() -> Value {
    Value::Array(vec![
        serde_json::to_value(definition()).expect("builders serialize")
    ])
}

/// What was registered, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The application.
    pub application_id: String,
    /// The guild, or `None` for global.
    pub guild: Option<u64>,
    /// Subcommands and groups of `/baton`.
    pub subcommands: usize,
}

/// Replaces the application's commands in `guild` (or globally) with `/baton`. Without an
/// `application_id`, asks Discord which application the bot token belongs to.
pub async fn register(
    rest: &Rest,
    application_id: Option<u64>,
    guild: Option<u64>,
) -> Result<Registered, RegisterError> {
    let payload = payload();
    let problems: Vec<String> = payload
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(limits::problems)
        .collect();
    if !problems.is_empty() {
        return Err(RegisterError::Limits(problems));
    }
    let application_id = match application_id {
        Some(id) => id.to_string(),
        None => {
            let app = rest
                .bot(Method::GET, "/applications/@me", None::<&Value>)
                .await
                .map_err(RegisterError::Rest)?;
            app["id"]
                .as_str()
                .ok_or(RegisterError::NoApplicationId)?
                .to_string()
        }
    };
    let path = match guild {
        Some(g) => format!("/applications/{application_id}/guilds/{g}/commands"),
        None => format!("/applications/{application_id}/commands"),
    };
    rest.bot(Method::PUT, &path, Some(&payload))
        .await
        .map_err(RegisterError::Rest)?;
    Ok(Registered {
        application_id,
        guild,
        subcommands: payload[0]["options"].as_array().map_or(0, Vec::len),
    })
}
