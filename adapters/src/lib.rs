//! Baton's platform adapters. Each turns a verified platform request into an
//! [`baton_commands::Invocation`], runs it through the router, and renders the
//! [`baton_commands::Reply`] for its platform. Adapters never talk to Redis.
//!
//! - [`console`]: plain text for the terminal (`baton dev`, `baton console`, `baton exec`).
//! - [`ci`]: the CI HTTP API (`/api/v1`), bearer tokens stored as SHA-256 hashes.
//! - [`slack`]: slash commands, buttons and Socket Mode in Block Kit; outbound Slack delivery.
//! - [`discord`]: `/baton` application command, buttons, HTTP interactions, gateway; delivery.
// The core's futures (a CI request waiting in line) are deep; the Slack Socket Mode listener
// needs their auto traits proven through every layer.
#![recursion_limit = "256"]
#![deny(missing_docs)]

pub mod ci;
pub mod console;
pub mod discord;
pub mod slack;
