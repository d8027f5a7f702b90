//! How each audit event reads, for each audience, in one place: the channel's announcement
//! ([`sentence`]), the env's history ([`history_line`]) and a GitHub run's review comment
//! ([`github_review`]). Each matches every [`Kind`] with no catch-all, so a new kind of event does
//! not compile until every audience has its words. Pure: no I/O, no clock but the event's.

use crate::config::fronts;
use crate::reply::{clock, relative};
use crate::store::audit::{Event, Kind};

/// Who the change was by: the actor when there is one (an unlock --force, an approval, a freeze),
/// else the holder.
fn actor(e: &Event) -> &str {
    match e.actor_display.as_str() {
        "" => &e.display,
        a => a,
    }
}

/// "over the `weekend` freeze window", when a lock was taken over one.
fn over_window(e: &Event) -> String {
    match e.window.as_str() {
        "" if e.over_freeze => " over a freeze".into(),
        "" => String::new(),
        w => format!(" over the `{w}` freeze window"),
    }
}

/// `alice locked prod`, with `env` standing for one env or a list: the channel's line.
pub(crate) fn sentence(e: &Event, env: &str) -> String {
    let who = e.display.as_str();
    let by = actor(e);
    if e.is_github_run() {
        if let Some(line) = github_sentence(e, env, who, by) {
            return line;
        }
    }
    match e.kind {
        Kind::Locked if e.approved => {
            format!("{by} approved {who}: it holds {env}{}", over_window(e))
        }
        Kind::Locked if !e.window.is_empty() => format!(
            "{who} locked {env} as an admin, over the `{}` freeze window",
            e.window
        ),
        Kind::Locked if !e.approved_by.is_empty() => {
            format!("{who} locked {env}, approved by {}", e.approved_by)
        }
        Kind::Locked if e.bypass => format!("{who} locked {env} as an admin, bypassing approval"),
        Kind::Locked => format!("{who} locked {env}"),
        Kind::Queued if !e.approved_by.is_empty() => format!(
            "{who} joined the queue for {env}, approved by {}",
            e.approved_by
        ),
        Kind::Queued => format!("{who} joined the queue for {env}"),
        Kind::LeftQueue if e.reason == "wait ran out" => {
            format!("{who} left the queue for {env}: their wait ran out")
        }
        Kind::LeftQueue => format!("{who} left the queue for {env}"),
        Kind::HandedOff => format!("{who} now holds {env}, next in the queue"),
        Kind::OfferLapsed => format!(
            "{who} did not take {env} when it was handed to them (the waiting request went away); it passes on"
        ),
        Kind::Unlocked => format!("{by} unlocked {env}"),
        Kind::ForceUnlocked => format!("{by} force-unlocked {env}, held by {who}"),
        Kind::LockExpired => format!("{who}'s lock on {env} expired"),
        Kind::LockExtended => format!("{who} extended their lock on {env}"),
        Kind::LockReminder => format!("{who}'s lock on {env} ends soon"),
        Kind::Claimed if e.over_freeze => {
            format!("{who} claimed {env} as an admin,{}", over_window(e))
        }
        Kind::Claimed => format!("{who} claimed {env}"),
        Kind::Released => format!("{by} released {env}"),
        Kind::ForceReleased => format!("{by} force-released {env}, claimed by {who}"),
        Kind::ClaimExpired => format!("{who}'s claim on {env} expired"),
        Kind::ClaimExtended => format!("{who} extended their claim on {env}"),
        Kind::ClaimReminder => format!("{who}'s claim on {env} ends soon"),
        Kind::Frozen => format!("{by} froze {env}"),
        Kind::Unfrozen => format!("{by} unfroze {env}"),
        Kind::FreezeEnded => format!("the freeze on {env} ended"),
        Kind::WindowNotice => format!(
            "the `{}` freeze window starts on {env} {}",
            e.window,
            relative(e.starts, e.at)
        ),
        Kind::WindowSkipped if e.early => format!(
            "{by} ended the `{}` freeze window early on {env}",
            e.window
        ),
        Kind::WindowSkipped => format!(
            "{by} skipped the `{}` freeze window of {} on {env}",
            e.window,
            clock(e.starts)
        ),
        Kind::Refused => format!("{who} was refused {env} ({})", e.reason.replace('_', " ")),
        Kind::Deployed => {
            let what = match (e.version.as_str(), e.sha.as_str()) {
                ("", "") => "a build".to_string(),
                ("", sha) => sha.chars().take(12).collect(),
                (version, _) => version.to_string(),
            };
            format!("{who} deployed {what} to {env}")
        }
        Kind::ApprovalRequested => format!(
            "{who} asks to lock {env}: it needs {} approval{} (not their own)",
            e.needed,
            if e.needed == 1 { "" } else { "s" }
        ),
        Kind::Approved => format!(
            "{by} approved {who}'s lock on {env} ({} of {})",
            e.have, e.needed
        ),
        Kind::ApprovalRejected if e.reason == "timed out" => {
            format!("{who}'s request to lock {env} timed out without enough approvals")
        }
        Kind::ApprovalRejected if e.reason == "withdrawn" => {
            format!("{who} withdrew their request to lock {env}")
        }
        Kind::ApprovalRejected => format!("{by} rejected {who}'s request to lock {env}"),
        Kind::Unknown => format!("{env}: {}", e.kind_name().replace('_', " ")),
    }
}

/// A GitHub run's turns, as the people watching the channel read them: "acme/api · run 123 by
/// alice waits for prod behind bob (2nd in line)", then approved or rejected. `None` where the
/// run's event reads like anyone's.
fn github_sentence(e: &Event, env: &str, who: &str, by: &str) -> Option<String> {
    Some(match e.kind {
        Kind::Queued => {
            let place = match e.position {
                1 => "next in line".to_string(),
                n => format!("{} in line", ordinal(n)),
            };
            match e.behind.as_str() {
                "" => format!("{who} waits for {env} ({place})"),
                holder => format!("{who} waits for {env} behind {holder} ({place})"),
            }
        }
        Kind::Locked | Kind::HandedOff if e.approved => {
            format!("{by} approved {who}: it holds {env}{}", over_window(e))
        }
        Kind::Locked | Kind::HandedOff => format!("{who} approved: it holds {env}"),
        Kind::Refused if e.reason == "frozen" => format!("{who} rejected for {env} (frozen)"),
        Kind::Refused => format!("{who} rejected for {env} (the line is full)"),
        Kind::LeftQueue if !matches!(e.reason.as_str(), "left" | "released" | "") => {
            let why = e.reason.as_str();
            format!(
                "{who} rejected for {env} ({})",
                why.strip_prefix("rejected ").unwrap_or(why)
            )
        }
        Kind::LeftQueue
        | Kind::OfferLapsed
        | Kind::Unlocked
        | Kind::ForceUnlocked
        | Kind::LockExpired
        | Kind::LockExtended
        | Kind::LockReminder
        | Kind::Claimed
        | Kind::Released
        | Kind::ForceReleased
        | Kind::ClaimExpired
        | Kind::ClaimExtended
        | Kind::ClaimReminder
        | Kind::Frozen
        | Kind::Unfrozen
        | Kind::FreezeEnded
        | Kind::WindowNotice
        | Kind::WindowSkipped
        | Kind::Deployed
        | Kind::ApprovalRequested
        | Kind::Approved
        | Kind::ApprovalRejected
        | Kind::Unknown => return None,
    })
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The road an identity came by, as history names it: the front end that registered its prefix
/// (`Slack`, `web console`), or one of the core's own callers (`CI API`, `terminal console`,
/// `GitHub`); an unknown prefix as written, and `None` without one.
pub fn road_of(identity: &str) -> Option<String> {
    let (prefix, _) = identity.split_once(':')?;
    let name = match prefix {
        "" => return None,
        "ci" => "CI API",
        "console" => "terminal console",
        "github" => "GitHub",
        p => match fronts::registered()
            .into_iter()
            .find(|f| f.prefix == p || f.groups.contains(&p))
        {
            Some(f) => f.name,
            None => p,
        },
    };
    Some(name.strip_prefix("the ").unwrap_or(name).to_string())
}

/// `alice (web console)`: a name with the road its identity came by.
fn named(name: &str, identity: &str) -> String {
    match road_of(identity) {
        Some(road) => format!("{name} ({road})"),
        None => name.to_string(),
    }
}

/// One line of `history <env>`: `2026-11-26 16:40 UTC  locked by alice (Slack): hotfix`. Whoever
/// made a change is named with the road it came by; what happened by itself (an expiry, a
/// hand-off, a timeout) names none.
pub(crate) fn history_line(e: &Event) -> String {
    let at = clock(e.at);
    let who = e.display.as_str();
    let by = e.actor_display.as_str();
    // The holder as the one who acted, the actor, and whoever did it (the actor, else the holder).
    let holder = named(who, &e.holder);
    let actor = named(by, &e.actor);
    let doer = named(
        who,
        if e.actor.is_empty() {
            &e.holder
        } else {
            &e.actor
        },
    );
    let what = match e.kind {
        Kind::Locked if e.approved => {
            format!("locked by {holder}, approved by {actor}{}", over_window(e))
        }
        Kind::Locked if !e.window.is_empty() => format!(
            "locked by {holder} as an admin, over the `{}` freeze window",
            e.window
        ),
        Kind::Locked if !e.approved_by.is_empty() => {
            format!("locked by {holder}, approved by {}", e.approved_by)
        }
        Kind::Locked if e.bypass => {
            format!("locked by {holder} as an admin, bypassing approval")
        }
        Kind::Locked => format!("locked by {holder}"),
        Kind::Unlocked => format!("unlocked by {doer}"),
        Kind::ForceUnlocked => format!("force-unlocked by {actor}, held by {who}"),
        Kind::LockExpired => format!("lock of {who} expired"),
        Kind::HandedOff => format!("handed to {who} from the queue"),
        Kind::OfferLapsed => format!("handed to {who}, who did not take it"),
        Kind::LockExtended => format!("lock of {doer} extended"),
        Kind::Queued => format!("{holder} joined the queue"),
        Kind::LeftQueue if e.reason == "left" => format!("{holder} left the queue"),
        Kind::LeftQueue => format!("{who} left the queue"),
        Kind::Claimed if e.over_freeze => {
            format!("claimed by {holder} as an admin,{}", over_window(e))
        }
        Kind::Claimed => format!("claimed by {holder}"),
        Kind::Released => format!("released by {doer}"),
        Kind::ForceReleased => format!("force-released by {actor}, claimed by {who}"),
        Kind::ClaimExpired => format!("claim of {who} expired"),
        Kind::ClaimExtended => format!("claim of {doer} extended"),
        Kind::LockReminder => format!("{who} reminded that their lock ends soon"),
        Kind::ClaimReminder => format!("{who} reminded that their claim ends soon"),
        Kind::Frozen => format!("frozen by {actor}"),
        Kind::Unfrozen => format!("unfrozen by {actor}"),
        Kind::FreezeEnded => "freeze ended".to_string(),
        Kind::Refused => format!("{holder} refused ({})", e.reason.replace('_', " ")),
        Kind::WindowSkipped if e.early => {
            format!("the `{}` freeze window ended early by {actor}", e.window)
        }
        Kind::WindowSkipped => format!(
            "the `{}` freeze window of {} skipped by {actor}",
            e.window,
            clock(e.starts)
        ),
        Kind::WindowNotice => format!(
            "notice: the `{}` freeze window starts {}",
            e.window,
            clock(e.starts)
        ),
        Kind::Deployed => format!("deployed {} by {doer}", e.version),
        Kind::ApprovalRequested => {
            format!(
                "{holder} asked to lock it, needing {} approval(s)",
                e.needed
            )
        }
        Kind::Approved => format!(
            "{actor} approved {who}'s request ({} of {})",
            e.have, e.needed
        ),
        Kind::ApprovalRejected if by.is_empty() => format!("{who}'s request was rejected"),
        Kind::ApprovalRejected if e.actor == e.holder => {
            format!("{holder} withdrew their request")
        }
        Kind::ApprovalRejected => format!("{who}'s request was rejected by {actor}"),
        Kind::Unknown => e.kind_name().to_string(),
    };
    // A refusal's reason is its code, already in the line.
    let reason = match e.kind {
        Kind::Refused => "",
        Kind::ApprovalRejected if e.actor == e.holder => "",
        _ => e.reason.as_str(),
    };
    if reason.is_empty() {
        format!("{at}  {what}")
    } else {
        format!("{at}  {what}: {reason}")
    }
}

/// What an event asks of GitHub for a run, if anything: approve (with the comment GitHub shows on
/// the run) or reject (with why).
pub(crate) fn github_review(e: &Event) -> Option<(bool, String)> {
    if !e.is_github_run() {
        return None;
    }
    let env = &e.env;
    match e.kind {
        Kind::Locked | Kind::HandedOff => {
            let approved = match (e.approved, e.actor_display.as_str()) {
                (true, "") => "; approved by an admin".to_string(),
                (true, by) => format!("; approved by {by}{}", over_window(e)),
                (false, _) if !e.approved_by.is_empty() => {
                    format!("; approved by {}", e.approved_by)
                }
                (false, _) => String::new(),
            };
            Some((
                true,
                format!(
                    "Baton: deploy lock on {env} granted, fence {}{approved} (held until {} at most; released when the deployment finishes)",
                    e.fence,
                    clock(e.expires)
                ),
            ))
        }
        // Refused when it asked (recorded in the same step as the refusal).
        Kind::Refused => Some((false, refusal(e))),
        Kind::ApprovalRejected => Some((
            false,
            match e.actor_display.as_str() {
                "" => format!(
                    "Baton: the lock on {env} was not approved in time ({})",
                    e.reason
                ),
                by => format!("Baton: {by} rejected the lock on {env}: {}", e.reason),
            },
        )),
        Kind::LeftQueue => match e.reason.as_str() {
            "left" | "released" => None,
            why => Some((false, format!("Baton: left the queue for {env}: {why}"))),
        },
        Kind::Queued
        | Kind::OfferLapsed
        | Kind::Unlocked
        | Kind::ForceUnlocked
        | Kind::LockExpired
        | Kind::LockExtended
        | Kind::LockReminder
        | Kind::Claimed
        | Kind::Released
        | Kind::ForceReleased
        | Kind::ClaimExpired
        | Kind::ClaimExtended
        | Kind::ClaimReminder
        | Kind::Frozen
        | Kind::Unfrozen
        | Kind::FreezeEnded
        | Kind::WindowNotice
        | Kind::WindowSkipped
        | Kind::Deployed
        | Kind::ApprovalRequested
        | Kind::Approved
        | Kind::Unknown => None,
    }
}

/// Why a run was refused when it asked, for GitHub: the freeze and until when, or the full line.
fn refusal(e: &Event) -> String {
    let env = &e.env;
    match e.reason.as_str() {
        "frozen" => {
            let why = match e.freeze_reason.as_str() {
                "" => String::new(),
                r => format!(": {r}"),
            };
            let until = match e.frozen_until {
                0 => "until someone unfreezes it".to_string(),
                ms => format!("until {}", clock(ms)),
            };
            format!("Baton: {env} is frozen{why} ({until}); re-run the deployment once it thaws")
        }
        _ => format!("Baton: the queue for {env} is full; re-run the deployment when it moves"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, holder: &str, display: &str) -> Event {
        Event {
            kind,
            at: 1_764_000_000_000,
            holder: holder.into(),
            display: display.into(),
            ..Default::default()
        }
    }

    #[test]
    fn history_names_the_road_each_change_came_by() {
        let mut forced = event(Kind::ForceUnlocked, "slack:U1", "alice");
        forced.actor = "console:root".into();
        forced.actor_display = "root".into();
        let mut expired = event(Kind::LockExpired, "ci:deploy#7", "deploy #7");
        expired.reason = "release".into();
        let mut withdrawn = event(Kind::ApprovalRejected, "ci:deploy#7", "deploy #7");
        (withdrawn.actor, withdrawn.actor_display) = ("ci:deploy#7".into(), "deploy #7".into());
        withdrawn.reason = "withdrawn".into();
        let cases = [
            (
                "a lock from the CI API, with its reason",
                {
                    let mut e = event(Kind::Locked, "ci:deploy#7", "deploy #7");
                    e.reason = "release 4.2".into();
                    e
                },
                "locked by deploy #7 (CI API): release 4.2",
            ),
            (
                "a GitHub run",
                event(Kind::Locked, "github:acme/api#12", "acme/api · run 12"),
                "locked by acme/api · run 12 (GitHub)",
            ),
            (
                "a force names the road of who forced it",
                forced,
                "force-unlocked by root (terminal console), held by alice",
            ),
            (
                "an expiry came by no road",
                expired,
                "lock of deploy #7 expired: release",
            ),
            (
                "a withdrawal",
                withdrawn,
                "deploy #7 (CI API) withdrew their request",
            ),
            (
                "an identity without a prefix names no road",
                event(Kind::Claimed, "alice", "alice"),
                "claimed by alice",
            ),
        ];
        for (what, e, expected) in cases {
            let line = history_line(&e);
            assert!(line.ends_with(&format!("  {expected}")), "{what}: {line}");
        }
    }

    #[test]
    fn the_cores_own_roads_are_named_and_an_unknown_prefix_is_shown_as_written() {
        // Front ends' own names come from their registration (checked end to end: the web
        // console's test reads "web console" in chat's history); registering one here would
        // change what the config checks' messages list.
        assert_eq!(
            road_of("console:alice").as_deref(),
            Some("terminal console")
        );
        assert_eq!(road_of("ci:deploy#7").as_deref(), Some("CI API"));
        assert_eq!(road_of("unheard-of:x").as_deref(), Some("unheard-of"));
        assert_eq!(road_of("alice"), None);
    }
}
