//! `[mattermost]`: the Mattermost integration. Secrets come from the environment only.

use serde::Deserialize;

use super::decode::Ctx;
use super::{Config, Problem};

/// The Mattermost integration's settings. Mattermost is off while nothing here is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MattermostConfig {}

impl Config {
    /// `config check`'s rules for `[mattermost]`.
    pub(super) fn check_mattermost(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let _ = (ctx, out);
    }
}
