//! Baton's platform adapters. Each turns a verified platform request into a
//! [`baton_commands::Request`], runs it through the core's one road ([`baton_commands::Baton::run`],
//! or `run_ci` for the CI API's typed requests), and renders the [`baton_commands::Outcome`]'s
//! reply for its platform, with the visibility the core decided. Adapters never talk to Redis.
//!
//! - [`console`]: plain text for the terminal (`baton dev`, `baton console`, `baton exec`).
//! - [`ci`]: the CI HTTP API (`/api/v1`), bearer tokens stored as SHA-256 hashes.
//! - [`slack`]: slash commands, buttons and Socket Mode in Block Kit; outbound Slack delivery.
//! - [`github`]: `POST /github/webhook` and the GitHub App's answers to deployment protection rules.
//! - [`discord`]: `/baton` application command, buttons, HTTP interactions, gateway; delivery.
//! - [`teams`]: Microsoft Teams through Bot Framework: activities, Adaptive Cards, the Connector.
//! - [`mattermost`]: slash commands, signed message-attachment buttons, posts as the bot.
//! - [`web`]: the web console (`/console`) with OpenID Connect sign-in.
//! - [`kit`]: what every chat front end shares (deadline and follow-up, the button policy,
//!   hints, names) and its registration, [`kit::Platform`]; [`PLATFORMS`] lists the chat front
//!   ends and [`register_platforms`] tells the core's config checks about them.
// The core's futures (a CI request waiting in line) are deep; the Slack Socket Mode listener
// needs their auto traits proven through every layer.
#![recursion_limit = "256"]
#![deny(missing_docs)]

pub mod ci;
pub mod console;
pub mod discord;
pub mod github;
pub mod kit;
pub mod mattermost;
pub mod slack;
pub mod teams;
pub mod web;

/// Every chat front end: one line each. The core's config checks learn their identity
/// prefixes, secrets and channel syntax from here ([`register_platforms`]).
pub static PLATFORMS: &[&kit::Platform] = &[
    &slack::PLATFORM,
    &discord::PLATFORM,
    &teams::PLATFORM,
    &mattermost::PLATFORM,
    &web::PLATFORM,
];

/// Registers [`PLATFORMS`] with the core, before any configuration is loaded (`baton`'s `main`,
/// test harnesses). Calling it again changes nothing.
pub fn register_platforms() {
    for platform in PLATFORMS {
        baton_commands::config::fronts::register(&platform.front);
    }
}
