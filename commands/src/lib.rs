//! Baton's platform-neutral core. It knows Redis and the chat grammar, and no chat platform.
//!
//! - [`grammar`]: chat text → [`command::Command`]; the same table generates `help`.
//! - [`road`]: the one entry point every front end calls ([`Baton::run`], [`Baton::run_ci`]),
//!   returning an [`Outcome`] with the refusal rendered and the visibility decided.
//! - [`ci_api`]: the CI API's requests and their typed answers.
//! - [`router`]: [`router::Baton`] checks roles once and dispatches to the command modules
//!   (`deploy`, `staging`, `status`), each of which is one Redis script call per state change.
//! - `admin`: the admin-only views and actions on the team's other Redis data (BullMQ queues,
//!   sessions, rate limits, leaderboards), with their own audit stream.
//! - [`reply`] / [`error`]: the platform-neutral answer, and every refusal a user can hit.
//! - [`store`]: the only module that speaks Redis: the connection, key layout (a hash tag per
//!   env group), the Lua scripts, and typed operations for everything else (admin, notify,
//!   history, `baton dev` and `baton bench`).
//! - [`events`]: the expiry sweeper that hands locks on when they lapse.
//! - [`delivery`]: the trait each platform implements to post messages outside a request.
//! - [`github`]: GitHub deployments wait in Baton's queue (a custom deployment protection rule).
//! - [`notify`]: announcements, reminders and hand-off notices, each delivered once across
//!   instances through a Redis consumer group on every env's audit stream.
//! - [`bus`]: the Pub/Sub event bus between instances; `ci` waits on it for hand-offs.
//! - [`config`] / [`catalog`]: configuration, and its resolved view for lookups and roles.
//! - [`calendar`]: scheduled freeze windows in real time zones, as UTC instants.
//! - [`domain`] / [`state`]: newtypes parsed at the edge, and env state as the scripts report it.
#![deny(missing_docs)]

mod admin;
pub mod bus;
pub mod calendar;
pub mod catalog;
mod ci;
pub mod ci_api;
mod claims;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
mod freeze;
pub mod github;
pub mod grammar;
pub use grammar::command;
pub mod hashing;
mod locks;
pub mod notify;
mod outcomes;
pub mod reply;
pub mod road;
pub mod router;
mod services;
pub mod state;
mod status;
pub mod store;
mod sweeper;
mod windows;
mod wording;

pub use command::{
    CiCommand, ClaimCommand, Command, FreezeCommand, LockCommand, ReadCommand, Touches,
};
pub use config::Config;
pub use domain::Actor;
pub use error::BatonError;
pub use reply::Reply;
pub use road::{Input, Outcome, Render, Request};
pub use router::Baton;
