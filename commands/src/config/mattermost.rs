//! `[mattermost]`: the Mattermost integration. Secrets come from the environment only.

use serde::Deserialize;

/// The Mattermost integration's settings. Mattermost is off while nothing here is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MattermostConfig {}
