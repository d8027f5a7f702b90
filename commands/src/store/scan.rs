//! Reading other services' keys: SCAN (never KEYS), and pipelines of plain commands.
//!
//! Every SCAN in Baton goes through [`Store::scan_match`], so making it walk each Cluster master
//! is a change here only; the admin commands call nothing else to find keys.

use futures_util::future::join_all;
use redis::{Cmd, Value};

use super::{is_noscript, Store, StoreError};

/// How many keys one SCAN call looks at.
const SCAN_COUNT: usize = 1000;

/// `*`, `?`, `[`, `]` and `\` escaped with `\`, so text typed by a person matches only itself
/// inside a SCAN `MATCH` pattern (`reset otp *` must not mean "everyone").
pub fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// Every key matching the glob `pattern`, by `SCAN … MATCH pattern COUNT 1000` until the
    /// cursor comes back to 0. Escape anything a person typed with [`escape_glob`]. Keys come back
    /// sorted and once each (SCAN may repeat a key); keys that are not UTF-8 are skipped.
    pub async fn scan_match(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let targets = self.bounded_redis(self.backend.scan_targets()).await?;
        for target in &targets {
            let mut cursor: u64 = 0;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT);
                let page = self
                    .bounded_redis(self.backend.scan_page(target, cmd))
                    .await?;
                let (next, batch): (u64, Vec<Vec<u8>>) =
                    redis::from_redis_value(page).map_err(|_| StoreError::Unexpected)?;
                for raw in batch {
                    match String::from_utf8(raw) {
                        Ok(key) => keys.push(key),
                        Err(e) => {
                            tracing::warn!(key = ?e.as_bytes(), "SCAN returned a non-UTF-8 key; skipped")
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Runs plain commands (reads, deletes, an audit `XADD`, or `EVALSHA` of a script in
    /// [`super::scripts`]) in one pipelined round trip; in a Cluster, where a pipeline must stay
    /// in one slot, each goes out on its own, concurrently. Every answer comes back by itself,
    /// errors included (`Value::ServerError`), so one odd key does not hide the others. Scripts
    /// refused with NOSCRIPT are loaded and those calls alone run again.
    pub(super) async fn query_many(&self, cmds: Vec<Cmd>) -> Result<Vec<Value>, StoreError> {
        let mut values = self.pipeline(&cmds).await?;
        let missing: Vec<usize> = (0..values.len())
            .filter(|&i| is_noscript(&values[i]))
            .collect();
        if !missing.is_empty() {
            self.load_scripts().await?;
            let again: Vec<Cmd> = missing.iter().map(|&i| cmds[i].clone()).collect();
            for (i, v) in missing.into_iter().zip(self.pipeline(&again).await?) {
                values[i] = v;
            }
        }
        Ok(values)
    }

    async fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<Value>, StoreError> {
        let send = |cmds: &[Cmd]| {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for c in cmds {
                pipe.add_command(c.clone());
            }
            self.run(|mut conn| async move { pipe.query_async::<Vec<Value>>(&mut conn).await })
        };
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if self.backend.pipelines_across_groups() || cmds.len() == 1 {
            return send(cmds).await;
        }
        let each = cmds.chunks(1).map(send);
        let mut values = Vec::with_capacity(cmds.len());
        for v in join_all(each).await {
            values.extend(v?);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_typed_by_people_match_only_themselves() {
        assert_eq!(escape_glob("a*b?[c]\\d"), "a\\*b\\?\\[c\\]\\\\d");
        assert_eq!(escape_glob("alice@example.com"), "alice@example.com");
    }
}
