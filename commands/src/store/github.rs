//! The GitHub App's own records, in a hash tag of their own (`{github}`): which webhook deliveries
//! were handled (GitHub's redelivery of one changes nothing), and for each waiting or holding
//! run where to answer it (the installation and the callback path), by Baton env. What stops a
//! replayed request under a new delivery id is the env's ledger, in the env's own slot (lock.lua).

use std::collections::HashMap;
use std::time::Duration;

use redis::{Cmd, Value};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// How long a delivery id is remembered: GitHub redelivers by hand within days, not weeks.
const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest `X-GitHub-Delivery` taken: GitHub's are UUIDs (36 characters).
pub const MAX_DELIVERY_LEN: usize = 64;

/// A webhook delivery's id (`X-GitHub-Delivery`): GitHub sends a UUID; anything but 1 to 64 hex
/// digits and dashes is refused before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// Checks `raw` and says in one sentence what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let hexish = |c: char| c.is_ascii_hexdigit() || c == '-';
        if raw.is_empty() || raw.len() > MAX_DELIVERY_LEN || !raw.chars().all(hexish) {
            return Err(format!(
                "X-GitHub-Delivery `{}` is not a GitHub delivery id: GitHub sends a UUID (at most {MAX_DELIVERY_LEN} hex digits and dashes)",
                crate::domain::preview(raw)
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The id, lowercased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    pub async fn github_first_delivery(&self, id: &DeliveryId) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys().github("delivery", id.as_str()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(DELIVERY_TTL.as_millis() as u64);
        let answer: Value = self.query_once(&cmd).await?;
        Ok(!matches!(answer, Value::Nil))
    }

    /// Forgets delivery `id`, whose handling failed: GitHub's redelivery of it is then handled,
    /// not taken for a replay (handling is idempotent: a run is one holder).
    pub async fn github_forget_delivery(&self, id: &DeliveryId) -> Result<(), StoreError> {
        let _: Value = self
            .query_once(&Cmd::del(self.keys().github("delivery", id.as_str())))
            .await?;
        Ok(())
    }

    /// Remembers where to answer `holder` for Baton env `env`, for `ttl`. A record of the same or
    /// a newer deployment (GitHub's ids only grow: a re-run's deployment is newer) is kept as it
    /// is, so a replayed request never points a run's answers at an old deployment.
    pub async fn github_save_run(
        &self,
        holder: &str,
        env: &str,
        record: &RunRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys().github("run", holder);
        let mut get = redis::cmd("HGET");
        get.arg(&key).arg(env);
        let known: Option<String> = self.query(&get).await?;
        let known = known.and_then(|json| serde_json::from_str::<RunRecord>(&json).ok());
        if known.is_some_and(|k| k.deployment >= record.deployment) {
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_uuids_at_most_64_hex_digits_and_dashes() {
        let id = DeliveryId::parse("72D3162E-CC78-11E3-81AB-4C9367DC0958").unwrap();
        assert_eq!(id.as_str(), "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert!(DeliveryId::parse(&"f".repeat(64)).is_ok());
        for bad in ["", "delivery-1", "72d3162e cc78", "../x", "ff\n"] {
            assert!(DeliveryId::parse(bad).is_err(), "{bad:?}");
        }
        let long = DeliveryId::parse(&"a".repeat(5000)).unwrap_err();
        assert!(long.len() < 300, "the id is not echoed whole: {long}");
    }
}
