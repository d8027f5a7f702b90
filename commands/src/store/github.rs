//! The GitHub App's own records, in a hash tag of their own (`{github}`): which webhook deliveries
//! were handled (a replayed `X-GitHub-Delivery` changes nothing), and for each waiting or holding
//! run where to answer it (the installation and the callback path), by Baton env.

use std::collections::HashMap;
use std::time::Duration;

use redis::{Cmd, Value};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// How long a delivery id is remembered: GitHub redelivers by hand within days, not weeks.
const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where and how to answer one run's deployment protection rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The App's installation on the run's repository.
    pub installation: u64,
    /// The callback's path under the API base (`/repos/o/r/actions/runs/1/deployment_protection_rule`).
    pub callback: String,
    /// The GitHub environment the run deploys to.
    pub environment: String,
    /// The deployment GitHub made for it: `deployment_status` names only this.
    pub deployment: u64,
}

impl Store {
    /// Marks webhook delivery `id` handled; false when it was already (a replay).
    pub async fn github_first_delivery(&self, id: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys().github("delivery", id))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(DELIVERY_TTL.as_millis() as u64);
        let answer: Value = self.query_once(&cmd).await?;
        Ok(!matches!(answer, Value::Nil))
    }

    /// Forgets delivery `id`, whose handling failed: GitHub's redelivery of it is then handled,
    /// not taken for a replay (handling is idempotent: a run is one holder).
    pub async fn github_forget_delivery(&self, id: &str) -> Result<(), StoreError> {
        let _: Value = self
            .query_once(&Cmd::del(self.keys().github("delivery", id)))
            .await?;
        Ok(())
    }

    /// Remembers where to answer `holder` for Baton env `env`, for `ttl`.
    pub async fn github_save_run(
        &self,
        holder: &str,
        env: &str,
        record: &RunRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys().github("run", holder);
        let json = serde_json::to_string(record).map_err(|_| StoreError::Unexpected)?;
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(&key).arg(env).arg(json).ignore();
        pipe.cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl.as_millis() as u64)
            .ignore();
        let deployment = self
            .keys()
            .github("deployment", &record.deployment.to_string());
        pipe.cmd("SET")
            .arg(deployment)
            .arg(holder)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore();
        self.run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
    }

    /// Where to answer `holder`, by Baton env (empty when nothing is known).
    pub async fn github_run(&self, holder: &str) -> Result<HashMap<String, RunRecord>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.keys().github("run", holder));
        let raw: HashMap<String, String> = self.query(&cmd).await?;
        Ok(raw
            .into_iter()
            .filter_map(|(env, json)| Some((env, serde_json::from_str(&json).ok()?)))
            .collect())
    }
}

impl Store {
    /// The run holder that deployment `id` was made for, if it was requested here.
    pub async fn github_deployment_holder(&self, id: u64) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.keys().github("deployment", &id.to_string()));
        self.query(&cmd).await
    }
}
