//! The audit streams, read newest first: each env's (`history <env>`) and the admin commands'
//! (`admin history`), and the admin audit entry that goes out in the same pipeline as the action
//! it records.

use redis::Cmd;

use super::audit::Event;
use super::{Store, StoreError};
use crate::domain::{Actor, EnvName};

/// One entry of an audit stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    /// The stream id (`<ms>-<seq>`, by Redis' clock).
    pub id: String,
    /// Its fields in the order they were written.
    pub fields: Vec<(String, String)>,
}

impl StreamRecord {
    /// A field, or `""`.
    pub(crate) fn get(&self, field: &str) -> &str {
        // The last one wins, as in a hash: a stream entry may repeat a field name.
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == field)
            .map_or("", |(_, v)| v.as_str())
    }

    /// When it was written (the id's milliseconds), if the id reads as one.
    pub(crate) fn at_ms(&self) -> Option<u64> {
        self.id.split('-').next()?.parse().ok()
    }
}

/// Who did which admin action to what, for the admin audit stream.
#[derive(Clone, Copy, Debug)]
pub struct AuditEntry<'a> {
    /// Who did it.
    pub actor: &'a Actor,
    /// What (`kick`, `ratelimit reset`, `queue retry`, …).
    pub action: &'a str,
    /// To what (a user, a limiter and identity, a queue).
    pub target: &'a str,
    /// What happened, in words.
    pub detail: &'a str,
}

impl Store {
    /// The freeze calendar's marks on `env` (`skip:<window>@<start ms>`, `notice:…`), for
    /// `freezes`.
    pub(crate) async fn window_marks(
        &self,
        group: &EnvName,
        env: &EnvName,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let key = &self.keys.env(group, env).0[8];
        self.query(&Cmd::hkeys(key)).await
    }

    /// `history <env> [n]`: the env's audit events, newest first (`XREVRANGE … COUNT n`), each
    /// dated by its stream id when it carries no time of its own (an older entry).
    pub(crate) async fn env_history(
        &self,
        group: &EnvName,
        env: &EnvName,
        count: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let records = self.newest(&self.keys.history(group, env), count).await?;
        Ok(records
            .into_iter()
            .map(|r| {
                let mut event =
                    Event::from_fields(r.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if event.at == 0 {
                    event.at = r.at_ms().unwrap_or(0);
                }
                event
            })
            .collect())
    }

    /// `admin history [n]`: the admin audit stream, newest first.
    pub(crate) async fn admin_history(
        &self,
        count: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        self.newest(&self.keys.admin_history(), count).await
    }

    async fn newest(&self, key: &str, count: usize) -> Result<Vec<StreamRecord>, StoreError> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(key).arg("+").arg("-").arg("COUNT").arg(count);
        let entries: Vec<(String, Vec<(String, String)>)> = self.query(&cmd).await?;
        Ok(entries
            .into_iter()
            .map(|(id, fields)| StreamRecord {
                id,
                fields: event_fields(fields),
            })
            .collect())
    }

    /// The audit entry for an action: `XADD <stream> MAXLEN ~ n * actor … action … target …`,
    /// capped at `defaults.history_length` like the envs' streams.
    pub(super) fn audit_cmd(&self, entry: AuditEntry<'_>) -> Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.admin_history())
            .arg("MAXLEN")
            .arg("~")
            .arg(self.history_length)
            .arg("*")
            .arg("actor")
            .arg(&entry.actor.id)
            .arg("display")
            .arg(&entry.actor.display)
            .arg("action")
            .arg(entry.action)
            .arg("target")
            .arg(entry.target)
            .arg("detail")
            .arg(entry.detail);
        cmd
    }
}

/// The audit entry's answer, last in its pipeline: the action happened either way, so a failed
/// entry is logged, not reported as the action's failure.
pub(super) fn audit_written(answer: Option<&redis::Value>) {
    if let Some(redis::Value::ServerError(e)) = answer {
        tracing::error!(error = ?e, "admin audit entry not written");
    }
}

/// An env stream entry's fields. The scripts write one field, `event`: the JSON text they also
/// publish (encoding it once is half the cost of recording). It reads back as the fields it
/// holds (`kind`, `env`, `holder`, …; numbers in decimal), like an entry an earlier version wrote
/// field by field, which passes through as it is.
pub fn event_fields(fields: Vec<(String, String)>) -> Vec<(String, String)> {
    let [(name, json)] = fields.as_slice() else {
        return fields;
    };
    if name != "event" {
        return fields;
    }
    let Ok(serde_json::Value::Object(event)) = serde_json::from_str(json) else {
        return fields;
    };
    event
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_event_entry_reads_as_its_fields_and_a_field_by_field_entry_as_it_is() {
        let json = r#"{"kind":"locked","holder":"slack:U1","fence":12,"expires":1764000000000,"window":null}"#;
        let mut read = event_fields(owned(&[("event", json)]));
        read.sort();
        assert_eq!(
            read,
            owned(&[
                ("expires", "1764000000000"),
                ("fence", "12"),
                ("holder", "slack:U1"),
                ("kind", "locked"),
            ])
        );
        let old = owned(&[("kind", "locked"), ("fence", "12")]);
        assert_eq!(event_fields(old.clone()), old);
        let not_json = owned(&[("event", "{oops")]);
        assert_eq!(event_fields(not_json.clone()), not_json);
    }
}
