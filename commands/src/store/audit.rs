//! The audit event: what every state change records in its env's stream (and publishes), as one
//! type decoded once here, at the store's edge. Above the store nobody reads an entry's field by
//! name: they match [`Kind`] (exhaustively, where they word it, so a new kind fails to compile
//! until every audience has its wording) and read typed fields.
//!
//! The scripts write each kind as a literal (`grep "kind = '"` in `lua/` finds every writer); an
//! entry of a kind this version does not know (a newer Baton during a rolling upgrade) decodes as
//! [`Kind::Unknown`] and is shown by its name.

use std::collections::HashMap;

/// Every kind of audit event, as the scripts name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A deploy lock taken (by a person, a pipeline, a GitHub run, an admin's approval).
    Locked,
    /// Someone joined the queue.
    Queued,
    /// Someone left the queue (they left, their wait ran out, they went away, were rejected).
    LeftQueue,
    /// The lock passed to the next in the queue.
    HandedOff,
    /// A lock offered to a waiting request that never took it (its instance died).
    OfferLapsed,
    /// The holder unlocked.
    Unlocked,
    /// An admin ended someone else's lock.
    ForceUnlocked,
    /// A lock ran out.
    LockExpired,
    /// A lock was extended.
    LockExtended,
    /// A lock ends soon (the holder is told).
    LockReminder,
    /// A staging env claimed.
    Claimed,
    /// The claimer released it.
    Released,
    /// An admin ended someone else's claim.
    ForceReleased,
    /// A claim ran out.
    ClaimExpired,
    /// A claim was extended.
    ClaimExtended,
    /// A claim ends soon.
    ClaimReminder,
    /// Someone froze the env.
    Frozen,
    /// Someone lifted the freeze.
    Unfrozen,
    /// A freeze reached its end.
    FreezeEnded,
    /// A scheduled freeze window starts soon.
    WindowNotice,
    /// An admin skipped a window's occurrence, or ended one early.
    WindowSkipped,
    /// A request refused in the same step that heard it (a GitHub run: frozen, a full line).
    Refused,
    /// A deploy recorded.
    Deployed,
    /// A lock on an env that needs approval was asked for: it waits for approvers.
    ApprovalRequested,
    /// Someone approved a pending request (`have` of `needed`).
    Approved,
    /// A pending request was rejected (by someone, withdrawn, or timed out).
    ApprovalRejected,
    /// A kind this version does not know (see [`Event::kind_name`]).
    #[default]
    Unknown,
}

impl Kind {
    /// Every known kind.
    pub const ALL: [Kind; 26] = [
        Kind::Locked,
        Kind::Queued,
        Kind::LeftQueue,
        Kind::HandedOff,
        Kind::OfferLapsed,
        Kind::Unlocked,
        Kind::ForceUnlocked,
        Kind::LockExpired,
        Kind::LockExtended,
        Kind::LockReminder,
        Kind::Claimed,
        Kind::Released,
        Kind::ForceReleased,
        Kind::ClaimExpired,
        Kind::ClaimExtended,
        Kind::ClaimReminder,
        Kind::Frozen,
        Kind::Unfrozen,
        Kind::FreezeEnded,
        Kind::WindowNotice,
        Kind::WindowSkipped,
        Kind::Refused,
        Kind::Deployed,
        Kind::ApprovalRequested,
        Kind::Approved,
        Kind::ApprovalRejected,
    ];

    /// The name the scripts write.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Locked => "locked",
            Kind::Queued => "queued",
            Kind::LeftQueue => "left_queue",
            Kind::HandedOff => "handed_off",
            Kind::OfferLapsed => "offer_lapsed",
            Kind::Unlocked => "unlocked",
            Kind::ForceUnlocked => "force_unlocked",
            Kind::LockExpired => "lock_expired",
            Kind::LockExtended => "lock_extended",
            Kind::LockReminder => "lock_reminder",
            Kind::Claimed => "claimed",
            Kind::Released => "released",
            Kind::ForceReleased => "force_released",
            Kind::ClaimExpired => "claim_expired",
            Kind::ClaimExtended => "claim_extended",
            Kind::ClaimReminder => "claim_reminder",
            Kind::Frozen => "frozen",
            Kind::Unfrozen => "unfrozen",
            Kind::FreezeEnded => "freeze_ended",
            Kind::WindowNotice => "window_notice",
            Kind::WindowSkipped => "window_skipped",
            Kind::Refused => "refused",
            Kind::Deployed => "deployed",
            Kind::ApprovalRequested => "approval_requested",
            Kind::Approved => "approved",
            Kind::ApprovalRejected => "approval_rejected",
            Kind::Unknown => "unknown",
        }
    }

    /// The kind a script's name stands for; [`Kind::Unknown`] for any other.
    pub fn parse(name: &str) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(Kind::Unknown)
    }

    /// Whether it concerns a staging claim rather than the deploy lock.
    pub fn is_claim(self) -> bool {
        matches!(
            self,
            Kind::Claimed
                | Kind::Released
                | Kind::ForceReleased
                | Kind::ClaimExpired
                | Kind::ClaimExtended
                | Kind::ClaimReminder
        )
    }
}

/// One audit event, decoded. Fields a kind does not carry are empty (or 0, or false).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// The name written, for [`Kind::Unknown`].
    pub kind_name: String,
    /// The env.
    pub env: String,
    /// When, by Redis' clock (ms).
    pub at: u64,
    /// Whose hold or place in line it is (`slack:U…`, `ci:deploy#…`, `github:owner/repo#run`).
    pub holder: String,
    /// How to show the holder (a freeze: who froze).
    pub display: String,
    /// Who made the change when it is not the holder (an unlock --force, an approval, a freeze).
    pub actor: String,
    /// How to show the actor.
    pub actor_display: String,
    /// Why: the hold's reason, a freeze's, a refusal's (`frozen`, `queue_full`), or why someone
    /// left the queue (`left`, `wait ran out`, `rejected by …`).
    pub reason: String,
    /// The hold's fence.
    pub fence: u64,
    /// When the hold ends (ms); a hand-off: when it ends once taken.
    pub expires: u64,
    /// When the hold began (an expiry).
    pub since: u64,
    /// When a freeze ends (0: until lifted).
    pub until: u64,
    /// A window's occurrence.
    pub starts: u64,
    /// A window's occurrence's end.
    pub ends: u64,
    /// The freeze window's name (a notice, a skip, a lock taken over one).
    pub window: String,
    /// A place in line (1 is next).
    pub position: u64,
    /// Who holds the lock a new waiter lines up behind.
    pub behind: String,
    /// An admin's approval let a waiter in (`github approve`).
    pub approved: bool,
    /// An admin took the lock over a freeze.
    pub over_freeze: bool,
    /// A skip ended a window that was on (not the next one).
    pub early: bool,
    /// A hand-off was an offer to a waiting request.
    pub offer: bool,
    /// A refused run's freeze: until when (0: until lifted), and why.
    pub frozen_until: u64,
    /// A refused run's freeze's reason.
    pub freeze_reason: String,
    /// A window notice: who claims the env too.
    pub claim_holder: String,
    /// A window notice: when that claim ends (`expires` is the lock's).
    pub claim_expires: u64,
    /// A deploy's commit.
    pub sha: String,
    /// A deploy's version.
    pub version: String,
    /// A deploy's link.
    pub url: String,
    /// The envs locked, queued for or handed over together (comma-joined), when it was a set.
    pub set: String,
    /// An approval request's id (the two-person rule).
    pub request: String,
    /// Who approved a lock that needed approval (comma-joined names).
    pub approved_by: String,
    /// An approval: how many approvals the request has, and needs.
    pub have: u64,
    /// How many approvals the request needs.
    pub needed: u64,
    /// An admin took a lock that needs approval without it.
    pub bypass: bool,
}

impl Event {
    /// Decodes an entry's fields as the stream readers return them (flattened from the `event`
    /// JSON, see [`event_fields`](super::history::event_fields)).
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Event {
        let map: HashMap<&str, &str> = fields.into_iter().collect();
        let text = |k: &str| map.get(k).map_or_else(String::new, |v| v.to_string());
        let num = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let flag = |k: &str| matches!(map.get(k), Some(&"1" | &"true"));
        let kind_name = text("kind");
        Event {
            kind: Kind::parse(&kind_name),
            kind_name,
            env: text("env"),
            at: num("at"),
            holder: text("holder"),
            display: text("display"),
            actor: text("actor"),
            actor_display: text("actor_display"),
            reason: text("reason"),
            fence: num("fence"),
            expires: num("expires"),
            since: num("since"),
            until: num("until"),
            starts: num("starts"),
            ends: num("ends"),
            window: text("window"),
            position: num("position"),
            behind: text("behind"),
            approved: flag("approved"),
            over_freeze: flag("over_freeze"),
            early: flag("early"),
            offer: flag("offer"),
            frozen_until: num("frozen_until"),
            freeze_reason: text("freeze_reason"),
            claim_holder: text("claim_holder"),
            claim_expires: num("claim_expires"),
            sha: text("sha"),
            version: text("version"),
            url: text("url"),
            set: text("set"),
            request: text("request"),
            approved_by: text("approved_by"),
            have: num("have"),
            needed: num("needed"),
            bypass: flag("bypass"),
        }
    }

    /// The kind's name as written (also for one this version does not know).
    pub fn kind_name(&self) -> &str {
        match self.kind {
            Kind::Unknown => &self.kind_name,
            k => k.as_str(),
        }
    }

    /// Whether the holder is a GitHub run.
    pub fn is_github_run(&self) -> bool {
        self.holder.starts_with("github:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself_and_a_newer_one_as_unknown_by_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), k);
        }
        let e = Event::from_fields([("kind", "teleported"), ("env", "prod")]);
        assert_eq!((e.kind, e.kind_name()), (Kind::Unknown, "teleported"));
    }

    #[test]
    fn fields_decode_to_their_types() {
        let e = Event::from_fields([
            ("kind", "locked"),
            ("env", "prod"),
            ("fence", "7"),
            ("expires", "1795711200000"),
            ("approved", "1"),
            ("early", "0"),
        ]);
        assert_eq!(e.kind, Kind::Locked);
        assert_eq!((e.fence, e.expires), (7, 1_795_711_200_000));
        assert!(e.approved && !e.early && !e.over_freeze);
    }
}
