//! The GitHub App's client: octocrab signs the App's JWT (RS256) and trades it for an
//! installation token, cached per installation until it expires. Only the protection-rule
//! callback is called; its answer decides the retry (5xx: again with backoff, 429 or a
//! secondary rate limit: after its Retry-After, other 4xx: never).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_commands::domain::Secret;
use baton_commands::store::github::RunRecord;
use baton_commands::DeliveryError;
use baton_commands::Reviews;
use futures_util::future::BoxFuture;
use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;
use serde_json::json;

/// When GitHub asks to slow down without saying how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The App, and one client per installation, shared (never cloned): octocrab caches an
/// installation's token inside the client, and a clone would cache on itself only, so each
/// answer would ask GitHub for a new token.
pub struct GithubApi {
    app: Octocrab,
    installations: Mutex<HashMap<u64, Arc<Octocrab>>>,
}

impl GithubApi {
    /// The App `app_id` with its private key (PEM), calling `api_url`. The error names the
    /// setting, never the key.
    pub fn new(app_id: u64, private_key: &Secret, api_url: &str) -> Result<Self, String> {
        let key = octocrab::EncodingKey::from_rsa_pem(private_key.expose().as_bytes())
            .map_err(|_| "the GitHub App's private key is not an RSA key in PEM: use the .pem file GitHub generated".to_string())?;
        let app = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|_| format!("`github.api_url` `{api_url}` is not a URL"))?
            .app(AppId(app_id), key)
            .build()
            .map_err(|e| format!("cannot build the GitHub client: {e}"))?;
        Ok(Self {
            app,
            installations: Mutex::default(),
        })
    }

    fn installation(&self, id: u64) -> Result<Arc<Octocrab>, DeliveryError> {
        let mut known = self.installations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = known.get(&id) {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(
            self.app
                .installation(InstallationId(id))
                .map_err(|e| DeliveryError::Refused(format!("installation {id}: {e}")))?,
        );
        known.insert(id, Arc::clone(&client));
        Ok(client)
    }

    async fn post(
        &self,
        run: &RunRecord,
        approved: bool,
        comment: &str,
    ) -> Result<(), DeliveryError> {
        let client = self.installation(run.installation)?;
        let body = json!({
            "environment_name": run.environment,
            "state": if approved { "approved" } else { "rejected" },
            "comment": comment,
        });
        let response = client
            ._post(run.callback.as_str(), Some(&body))
            .await
            .map_err(|e| DeliveryError::Failed(format!("GitHub: {e}")))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status.as_u16() {
            200..=299 => Ok(()),
            429 => Err(DeliveryError::RateLimited(
                retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            )),
            403 if retry_after.is_some() => Err(DeliveryError::RateLimited(
                retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            )),
            500..=599 => Err(DeliveryError::Failed(format!("GitHub answered {status}"))),
            _ => Err(DeliveryError::Refused(format!("GitHub answered {status}"))),
        }
    }
}

impl Reviews for GithubApi {
    fn review<'a>(
        &'a self,
        run: &'a RunRecord,
        approved: bool,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.post(run, approved, comment))
    }
}
