//! The chat front-end kit: what every chat platform does the same way, written once, so a
//! platform's folder holds only its transport, its payloads and its look.
//!
//! - [`deadline`]: answer within the platform's deadline, or acknowledge at once and follow up
//!   with the real answer when it is ready.
//! - [`buttons`]: the press policy: a refusal to the presser alone, a success replacing the
//!   pressed message, a private prompt's state change reposted for the channel.
//! - [`hints`]: what to type next under help, an unknown verb and a usage mistake.
//! - [`names`]: display names cleaned, never empty, never a platform id.
//! - [`Platform`]: a front end's registration: its identity prefix and groups, its secrets, its
//!   channel syntax (what `baton config check` reads), and how its people are named.

pub mod buttons;
pub mod deadline;
pub mod hints;
pub mod names;
mod platform;

#[cfg(test)]
pub(crate) use platform::tests::problems as platform_problems;
pub use platform::Platform;
