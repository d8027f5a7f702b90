//! Chat front ends' address books: how to reach a conversation or a person that Baton only
//! knows by id. Bot Framework, for one, answers at a `serviceUrl` that each conversation names
//! in its activities, and a direct message needs the person's platform id, not the identity
//! roles use. A front end remembers what it learns from each inbound request and looks it up
//! when it posts (an announcement, a reminder, a hand-off notice). Entries are small JSON
//! values, one hash per platform and kind, written only when they change.

use redis::Cmd;

use super::{Store, StoreError};

/// The most entries one address book keeps: a hash that grows with every conversation the bot
/// has seen stays bounded (a new entry past this is not kept, and is learnt again next time).
pub const MAX_CONTACTS: usize = 100_000;

impl Store {
    /// Remembers `value` for `id` in `platform`'s `kind` book (`conversation`, `person`), if it
    /// is new or changed. One round trip when nothing changed (the usual case).
    pub async fn remember_contact(
        &self,
        platform: &str,
        kind: &str,
        id: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let key = self.keys().contacts(platform, kind);
        let known: Option<String> = self.query(&Cmd::hget(&key, id)).await?;
        if known.as_deref() == Some(value) {
            return Ok(());
        }
        if known.is_none() {
            let size: usize = self.query(&Cmd::hlen(&key)).await?;
            if size >= MAX_CONTACTS {
                tracing::warn!(
                    platform,
                    kind,
                    "address book full; not remembering a new entry"
                );
                return Ok(());
            }
        }
        let _: i64 = self.query_once(&Cmd::hset(&key, id, value)).await?;
        Ok(())
    }

    /// What `platform`'s `kind` book holds for `id`, if anything.
    pub async fn contact(
        &self,
        platform: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = self.keys().contacts(platform, kind);
        self.query(&Cmd::hget(&key, id)).await
    }
}
