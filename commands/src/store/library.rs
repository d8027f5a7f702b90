//! Baton's function library on the server, and the checks that it can be used: loading it
//! (start-up, after `NOSCRIPT`), the readiness probe (`/readyz`) and the start-up check of the
//! ACL user's permissions.

use redis::Value;

use super::{error, scripts, Store, StoreError};
use crate::domain::EnvName;

impl Store {
    /// Whether Redis answers right now (`/readyz`); on a Cluster, every master.
    /// Then one read-only script on Baton's own keys: an ACL user that may `PING` but not run
    /// scripts or read Baton's keys is not ready either.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|_| async move { self.backend.ping().await })
            .await
            .map_err(StoreError::for_read)?;
        let group = EnvName::parse("readyz").expect("a valid name");
        let probe = self.script_on_keys(scripts::DUE, vec![self.keys.deadlines(&group)]);
        let _: serde_json::Value = self.eval(probe).await.map_err(StoreError::for_read)?;
        Ok(())
    }

    /// The start-up check of what Baton's Redis user may do: the readiness probe's `FCALL` of
    /// Baton's own function on its keys. `Err` names the ACL permission Redis said is missing
    /// (e.g. `+fcall`), so a user without it is found at start, not at the first lock. Other
    /// failures (Redis down, credentials) are not its business: it answers `Ok` for them.
    pub async fn check_access(&self) -> Result<(), String> {
        let group = EnvName::parse("readyz").expect("a valid name");
        let probe = self.script_on_keys(scripts::DUE, vec![self.keys.deadlines(&group)]);
        let cmd = probe.cmd(&self.calendar, self.now());
        let refused = self
            .run(|mut conn| async move {
                match cmd.query_async::<Value>(&mut conn).await {
                    Err(e) if e.code() == Some("NOPERM") => Ok(Some(e.to_string())),
                    Err(e) => Err(e),
                    Ok(_) => Ok(None),
                }
            })
            .await;
        match refused {
            Ok(Some(said)) => Err(error::missing_permission(&said, &self.config.prefix)),
            _ => Ok(()),
        }
    }

    /// Loads Baton's function library unless this Redis has it already (as it does after another
    /// instance or a persisted restart). Asking is a read, so a Redis that refuses writes for a
    /// while (`CLIENT PAUSE WRITE`, a replica being promoted) does not hold up start-up when the
    /// library is there; the admin scripts load on their first use.
    pub async fn ensure_loaded(&self) -> Result<(), StoreError> {
        let mut list = redis::cmd("FUNCTION");
        list.arg("LIST")
            .arg("LIBRARYNAME")
            .arg(&scripts::LIBRARY.name);
        let found: Vec<Value> = self.query(&list).await?;
        if found.is_empty() {
            self.load_scripts().await?;
        }
        Ok(())
    }

    /// Loads Baton's function library and the admin scripts, so that the first call after
    /// start-up is already one `FCALL`. One pipeline on a single server; in a Cluster `FUNCTION
    /// LOAD` goes to every master and each `SCRIPT LOAD` to every node. Loading is idempotent (the
    /// library's name is its code's hash, and `REPLACE` swaps it for itself).
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut library = redis::cmd("FUNCTION");
        library
            .arg("LOAD")
            .arg("REPLACE")
            .arg(&scripts::LIBRARY.source);
        if self.backend.pipelines_across_groups() {
            let mut pipe = redis::pipe();
            pipe.add_command(library);
            for code in scripts::admin_sources() {
                pipe.cmd("SCRIPT").arg("LOAD").arg(code);
            }
            let _: Vec<String> = self
                .run(|mut conn| async move { pipe.query_async(&mut conn).await })
                .await?;
        } else {
            let _: Value = self.query_once(&library).await?;
            for code in scripts::admin_sources() {
                let mut cmd = redis::cmd("SCRIPT");
                cmd.arg("LOAD").arg(code);
                let _: Value = self.query_once(&cmd).await?;
            }
        }
        Ok(())
    }
}
