//! Single-session logins: one key per user (`admin.session_key`, `session:{user}` by default),
//! overwritten at each login, so a user has at most one session.
//!
//! The session's value is the secret. Both commands are Lua scripts that work out a fingerprint
//! inside Redis, so the token never reaches Baton, its logs or the chat.
//!
//! # Format
//! `admin session <user>` · `admin kick <user>`

use std::time::Duration;

use super::AdminDesk;
use super::{audit, ttl_text};
use crate::command::AdminArg;
use crate::domain::wall_clock;
use crate::domain::{human_duration, Actor};
use crate::error::BatonError;
use crate::reply::{clock, Reply, Tone, Value};

impl AdminDesk {
    fn session_key(&self, user: &AdminArg) -> String {
        self.admin
            .config
            .session_key
            .replace("{user}", user.as_str())
    }

    /// `admin session <user>`: whether there is a session, its TTL, age and a fingerprint.
    pub(super) async fn admin_session(&self, user: &AdminArg) -> Result<Reply, BatonError> {
        let key = self.session_key(user);
        let session = self.store.session(&key).await?;
        let (kind, pttl, idle, fingerprint, size) = (
            session.kind,
            session.pttl,
            session.idle_secs,
            session.fingerprint,
            session.size,
        );
        let now = wall_clock();
        if !session.exists {
            return Ok(
                Reply::new(Tone::Info, format!("{user} has no session"), now)
                    .field("Key", Value::Text(key)),
            );
        }
        let mut reply = Reply::new(Tone::Info, format!("{user} has a session"), now)
            .field("Key", Value::Text(key))
            .field("Fingerprint", Value::Text(format!("sha1:{fingerprint}")))
            .field("TTL", Value::Text(ttl_text(pttl)));
        if let (Some(lifetime), true) = (self.admin.config.session_ttl, pttl >= 0) {
            let left = Duration::from_millis(pttl as u64);
            let age = match lifetime.checked_sub(left) {
                Some(age) => {
                    let at = now.saturating_sub(age.as_millis() as u64);
                    format!("{}, logged in at {}", human_duration(age), clock(at))
                }
                None => "unknown: more TTL is left than admin.session_ttl".into(),
            };
            reply = reply.field("Age", Value::Text(age));
        }
        if idle >= 0 {
            // Redis 7.0 cannot read without touching: this look counts as a use for the next one.
            let idle = human_duration(Duration::from_secs(idle as u64));
            let text = format!("{idle} since the last read or write (an admin look included)");
            reply = reply.field("Idle", Value::Text(text));
        }
        let shape = match kind.as_str() {
            "string" => format!("string of {size} bytes"),
            "hash" => format!("hash of {size} fields"),
            other => format!("{other} (no fingerprint for this type)"),
        };
        Ok(reply.field("Value", Value::Text(shape)).button(
            "Kick",
            format!("admin kick {user}"),
            false,
        ))
    }

    /// `admin kick <user>`: delete the session and announce it on `admin.session_channel`, in one
    /// script; the audit entry goes out in the same round trip.
    pub(super) async fn admin_kick(
        &self,
        actor: &Actor,
        user: &AdminArg,
    ) -> Result<Reply, BatonError> {
        let key = self.session_key(user);
        let channel = self
            .admin
            .config
            .session_channel
            .clone()
            .unwrap_or_default();
        let detail = format!("session key {key}");
        let entry = audit(actor, "kick", user.as_str(), &detail);
        let kicked = self
            .store
            .kick_session(&key, &channel, user.as_str(), entry)
            .await?;
        let (fingerprint, reached) = (kicked.fingerprint, kicked.reached);
        let now = wall_clock();
        if !kicked.existed {
            return Ok(Reply::new(
                Tone::Info,
                format!("{user} has no session, so there was nothing to end"),
                now,
            )
            .field("Key", Value::Text(key)));
        }
        let announced = match (channel.as_str(), reached) {
            ("", _) => "not announced: no admin.session_channel is configured".to_string(),
            (channel, 1) => format!("on {channel}, to 1 subscriber"),
            (channel, n) => format!("on {channel}, to {} subscribers", n.max(0)),
        };
        Ok(Reply::new(
            Tone::Success,
            format!("{} ended {user}'s session", actor.display),
            now,
        )
        .field("Key", Value::Text(key))
        .field("Fingerprint", Value::Text(format!("sha1:{fingerprint}")))
        .field("Announced", Value::Text(announced)))
    }
}
