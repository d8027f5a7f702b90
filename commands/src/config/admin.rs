//! `[admin]`: where the team's other Redis patterns live (BullMQ queues, sessions, rate limits,
//! leaderboards), so `admin …` commands can inspect and act on them.

use serde::Deserialize;

/// Key conventions of the team's own Redis data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {}
