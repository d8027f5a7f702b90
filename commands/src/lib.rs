//! Baton's platform-neutral core. It knows Redis and the chat grammar, and no chat platform.
//!
//! Six public modules, and one `pub use` list below for everything a front end or the binary
//! needs; the rest is private, so the compiler finds what nobody uses.
//!
//! - [`grammar`]: chat text → [`Command`]; the verb table also makes `help`, the Slack hints,
//!   the Discord options and the README's table.
//! - [`ci_api`]: the CI API's typed requests and answers.
//! - [`config`]: the configuration, its checks and the front ends' registry.
//! - [`domain`]: newtypes parsed at the edge (`EnvName`, `Ttl`, `Secret`, `Actor`, …).
//! - [`reply`]: the platform-neutral answer each front end renders.
//! - [`store`]: the only module that speaks Redis: connection, key layout, the function library,
//!   the typed audit event ([`store::audit`]) and typed operations for everything else.
//!
//! Private: `road` (the one entry point, [`Baton::run`], [`Baton::run_ci`], [`Baton::run_github`])
//! and `router` (the privilege decision and the dispatch by family: `impl Baton` lives in these
//! two files); the services `locks`, `freeze`, `claims`, `status`, `ci` (pipelines), `github`,
//! `admin`, `windows` (the freeze calendar's verbs), `sweeper` (expiries and hand-offs);
//! `outcomes` (what the hold scripts' answers mean), `wording` (every audit event worded for the
//! channel, the history and GitHub, exhaustively), `notify` (announcements and DMs, once across
//! instances), `bus` (Pub/Sub between instances), `calendar`, `catalog`, `state`, `error`.
#![deny(missing_docs)]

mod admin;
mod approvals;
mod bus;
mod calendar;
mod catalog;
mod ci;
pub mod ci_api;
mod claims;
pub mod config;
mod delivery;
pub mod domain;
mod error;
mod freeze;
mod github;
pub mod grammar;
pub use grammar::command;
mod hashing;
mod locks;
mod notify;
mod outcomes;
pub mod reply;
mod road;
mod router;
mod services;
mod sets;
mod state;
mod status;
pub mod store;
mod sweeper;
mod windows;
mod wording;

pub use bus::{BusMessage, Event as BusEvent, EventBus};
pub use catalog::Catalog;
pub use command::{
    CiCommand, ClaimCommand, Command, FreezeCommand, LockCommand, ReadCommand, Touches,
};
pub use config::Config;
pub use delivery::{Delivery, DeliveryError};
pub use domain::Actor;
pub use error::{BatonError, HoldKind};
pub use github::callbacks::Callbacks;
pub use github::{DeliveryId, GitHub, Reviews, RunRequest};
pub use hashing::sha256_hex;
pub use notify::{Notifier, NotifyOptions, RetryPolicy};
pub use reply::Reply;
pub use road::{CiRequest, Input, Outcome, Render, Request};
pub use router::Baton;
pub use state::{EnvState, Hold};
pub use wording::road_of;
