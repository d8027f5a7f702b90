//! GitHub in the service: the webhook route and the callbacks' consumer, when `[github] app_id`
//! is set.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use axum::Router;
use baton_adapters::github::api::GithubApi;
use baton_adapters::github::{self, GithubState};
use baton_commands::config::Config;
use baton_commands::Baton;
use baton_commands::Callbacks;
use baton_commands::{GitHub, Reviews};
use tokio::sync::watch;

/// How long an answer claimed by an instance that died waits before another sends it.
const REDELIVER_AFTER: Duration = Duration::from_secs(30);

fn client(config: &Config) -> anyhow::Result<Option<Arc<dyn Reviews>>> {
    let g = &config.github;
    let Some(app_id) = g.app_id else {
        return Ok(None);
    };
    let key = g.private_key().map_err(|e| anyhow!(e))?;
    let api = GithubApi::new(app_id, &key, &g.api_url).map_err(|e| anyhow!(e))?;
    Ok(Some(Arc::new(api)))
}

/// `POST /github/webhook`.
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    if config.github.app_id.is_none() {
        return Ok(Router::new());
    }
    let secret = config.github.webhook_secret().map_err(|e| anyhow!(e))?;
    let Some(reviews) = client(config)? else {
        return Ok(Router::new());
    };
    let state = GithubState::new(GitHub::new(baton, &config.github, reviews), secret);
    Ok(github::routes(state))
}

/// The callbacks' consumer; it stops when `stop` turns true.
pub fn spawn_background(
    config: &Config,
    baton: &Baton,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(reviews) = client(config)? else {
        return Ok(());
    };
    let callbacks = Callbacks::new(baton, reviews, REDELIVER_AFTER);
    tokio::spawn(callbacks.run(async move {
        let _ = stop.changed().await;
    }));
    Ok(())
}
