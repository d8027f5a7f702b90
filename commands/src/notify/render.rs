//! Audit entries as messages: announcements for channels (what changed, on which env, by whom,
//! why, until when) and direct messages for the holder (a reminder, a hand-off) with buttons that
//! run chat commands. Entries of one moment that say the same thing about several envs (`freeze
//! all`) become one line.

use crate::reply::{clock, relative, Reply, Tone, Value, Visibility};

use super::outbox::Entry;
use super::Target;
use crate::store::audit::{Event, Kind};
use crate::wording::sentence;

/// Env names on one merged line before "and N more".
const MAX_NAMES: usize = 30;

/// The announcements for one channel: each message with the indices (into `entries`) it covers.
/// Lines go into one message while the platform says it `fits` whole; the next line starts
/// another. Nothing is cut: every change is in exactly one of the messages.
pub(crate) fn announcements(entries: &[&Entry], now: u64, fits: Fits) -> Vec<(Vec<usize>, Reply)> {
    // A line per distinct change; the same change on several envs shares a line.
    let mut lines: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let key = merge_key(e);
        // A line names at most MAX_NAMES envs, so none is summed up as "and N more".
        match lines
            .iter_mut()
            .find(|(k, m)| *k == key && m.len() < MAX_NAMES)
        {
            Some((_, members)) => members.push(i),
            None => lines.push((key, vec![i])),
        }
    }
    let mut out = Vec::new();
    let mut chunk: Vec<&[usize]> = Vec::new();
    for (_, members) in &lines {
        chunk.push(members);
        if chunk.len() > 1 && !fits(&message(entries, &chunk, now, fits)) {
            chunk.pop();
            out.push(finish(entries, &chunk, now, fits));
            chunk = vec![members];
        }
    }
    if !chunk.is_empty() {
        out.push(finish(entries, &chunk, now, fits));
    }
    out
}

type Fits<'a> = &'a dyn Fn(&Reply) -> bool;

fn finish(entries: &[&Entry], chunk: &[&[usize]], now: u64, fits: Fits) -> (Vec<usize>, Reply) {
    let covered = chunk.iter().flat_map(|m| m.iter().copied()).collect();
    (covered, message(entries, chunk, now, fits))
}

/// One message for some lines: a line alone is a titled message with fields (unless its title
/// is too long for the platform), several lines are "N changes" with a line each.
fn message(entries: &[&Entry], chunk: &[&[usize]], now: u64, fits: Fits) -> Reply {
    if let [members] = chunk {
        let alone = single(entries, members, now);
        if fits(&alone) {
            return alone;
        }
    }
    let text: Vec<String> = chunk
        .iter()
        .map(|members| {
            let first = entries[members[0]];
            let envs = env_list(entries, members);
            format!("• {}{}", sentence(&first.event, &envs), details(first, now))
        })
        .collect();
    let count: usize = chunk.iter().map(|m| m.len()).sum();
    let mut r = notice(Tone::Info, format!("{count} changes"), now).with_text(text.join("\n"));
    // Waiting GitHub runs keep their buttons in a batch too (as many as a message can carry;
    // the rest are decided with `github approve`).
    let waiting = chunk
        .iter()
        .flat_map(|m| m.iter())
        .map(|&i| &entries[i].event)
        .filter(|e| {
            (e.kind == Kind::Queued && e.is_github_run()) || e.kind == Kind::ApprovalRequested
        });
    for e in waiting.take(MAX_RUN_BUTTONS) {
        r = run_buttons(r, e);
    }
    r
}

/// Waiting runs a batched message offers buttons for: two each, within what Slack and Discord
/// show in one message.
const MAX_RUN_BUTTONS: usize = 5;

/// A waiting GitHub run's Approve and Reject, for admins to decide from the announcement (the
/// router checks the role). The run is named by its bare id (GitHub's run ids are unique), so the
/// command fits Discord's 100-character custom id whatever the repository's name.
fn run_buttons(r: Reply, e: &Event) -> Reply {
    let run = e
        .holder
        .strip_prefix("github:")
        .and_then(|h| h.rsplit_once('#'));
    match (e.kind, run) {
        // A lock that needs approval: anyone else who may approve it decides from the channel.
        (Kind::ApprovalRequested, _) => {
            let (env, id) = (&e.env, &e.request);
            r.button("Approve", format!("approve {env} #{id}"), true)
                .button("Reject", format!("reject {env} #{id}"), false)
        }
        (Kind::Queued, Some((_, id))) => {
            let env = &e.env;
            r.button("Approve", format!("github approve {env} {id}"), true)
                .button("Reject", format!("github reject {env} {id}"), false)
        }
        _ => r,
    }
}

/// What the holder is told directly: a reminder before the hold ends, or that a hand-off made
/// them the holder. Both carry the buttons that act on the hold.
pub(crate) fn direct(e: &Entry, to: &Target, now: u64) -> Reply {
    let ev = &e.event;
    let env = ev.env.as_str();
    let expires = ev.expires;
    let (tone, title, text) = match ev.kind {
        Kind::LockReminder | Kind::ClaimReminder => {
            let what = if is_lock(e) { "deploy lock" } else { "claim" };
            (
                Tone::Info,
                format!("Your {what} on {env} ends {}", relative(expires, now)),
                "Extend it if you still need it; otherwise let it go so the next person can have it.",
            )
        }
        Kind::WindowNotice => return window_direct(e, to, now),
        _ => (
            Tone::Success,
            format!("You now hold {env}, until {}", short_clock(expires, now)),
            "Your turn: the deploy lock passed to you from the queue.",
        ),
    };
    let (end_label, end) = if is_lock(e) {
        ("Unlock", format!("unlock {env}"))
    } else {
        ("Release", format!("release {env}"))
    };
    notice(tone, title, now)
        .with_text(text)
        .field("Expires", Value::Time(expires))
        .text_field("Reason", &ev.reason)
        .button("Extend 1h", format!("extend {env} 1h"), true)
        .button(end_label, end, false)
}

/// "Your deploy lock on prod (until 18:30 CET) runs into the `weekend` freeze window, which
/// starts in 2h": what a holder is told before a window starts, about what they hold, with the
/// buttons that act on it. `to` is who it is for: the lock's holder, or the claim's.
fn window_direct(e: &Entry, to: &Target, now: u64) -> Reply {
    let ev = &e.event;
    let env = ev.env.as_str();
    let is_claim = Target::parse(&ev.claim_holder, true).as_ref() == Some(to)
        && Target::parse(&ev.holder, true).as_ref() != Some(to);
    let (what, until, end_label, end) = if is_claim {
        (
            "claim",
            ev.claim_expires,
            "Release",
            format!("release {env}"),
        )
    } else {
        ("deploy lock", ev.expires, "Unlock", format!("unlock {env}"))
    };
    let held = match until {
        0 => format!("Your {what} on {env}"),
        t => format!("Your {what} on {env} (until {})", short_clock(t, now)),
    };
    let mut r = notice(
        Tone::Info,
        format!(
            "{held} runs into the `{}` freeze window, which starts {}",
            ev.window,
            relative(ev.starts, now)
        ),
        now,
    )
    .with_text("A freeze never ends a lock or claim, but no one else is handed the env until the window ends. Finish before it starts and let it go, or ask an admin to `freeze skip` it.");
    if until > 0 {
        r = r.field("Yours until", Value::Time(until));
    }
    r.field("Window starts", Value::Time(ev.starts))
        .field("Window ends", Value::Time(ev.ends))
        .text_field("Reason", &ev.reason)
        .button(end_label, end, false)
}

fn is_lock(e: &Entry) -> bool {
    !e.event.kind.is_claim()
}

fn notice(tone: Tone, title: String, now: u64) -> Reply {
    let mut r = Reply::new(tone, title, now);
    r.visibility = Visibility::InChannel;
    r
}

/// A message of one line: the sentence as the title, the details as fields.
fn single(entries: &[&Entry], members: &[usize], now: u64) -> Reply {
    let e = &entries[members[0]].event;
    let tone = match e.kind {
        Kind::LockExpired | Kind::ClaimExpired | Kind::OfferLapsed => Tone::Info,
        // Overrides and turn-aways: a forced end, a run refused or rejected, a window skipped, a
        // grant over a freeze.
        Kind::ForceUnlocked | Kind::ForceReleased | Kind::Refused | Kind::WindowSkipped => {
            Tone::Warning
        }
        Kind::LeftQueue if !e.actor.is_empty() => Tone::Warning,
        Kind::Locked | Kind::Claimed if e.over_freeze => Tone::Warning,
        _ => Tone::Success,
    };
    let mut r = notice(tone, sentence(e, &env_list(entries, members)), now);
    if has_reason(e) {
        r = r.text_field("Reason", &e.reason);
    }
    r = run_buttons(r, e);
    match e.kind {
        Kind::Frozen if e.until > 0 => r.field("Until", Value::Time(e.until)),
        Kind::Frozen => r.field("Until", Value::Text("someone unfreezes it".into())),
        Kind::WindowNotice => r
            .field("Starts", Value::Time(e.starts))
            .field("Ends", Value::Time(e.ends)),
        Kind::WindowSkipped if !e.early => r
            .field("Skipped", Value::Time(e.starts))
            .field("Until", Value::Time(e.ends)),
        Kind::Queued if e.position > 0 => {
            r.field("Position", Value::Text(format!("#{}", e.position)))
        }
        Kind::Deployed => r
            .text_field("Version", &e.version)
            .text_field("Commit", &e.sha)
            .text_field("Link", &e.url),
        _ if e.expires > 0 => r.field("Expires", Value::Time(e.expires)),
        _ => r,
    }
}

/// What a line adds after the sentence: until when, and why.
fn details(entry: &Entry, now: u64) -> String {
    let e = &entry.event;
    let mut out = match e.kind {
        Kind::Frozen if e.until > 0 => format!(" until {}", short_clock(e.until, now)),
        Kind::Frozen => " until someone unfreezes it".into(),
        Kind::WindowNotice => format!(
            " at {}, until {}",
            short_clock(e.starts, now),
            short_clock(e.ends, now)
        ),
        Kind::Queued if e.position > 0 => format!(" (#{})", e.position),
        Kind::Locked
        | Kind::HandedOff
        | Kind::Claimed
        | Kind::LockExtended
        | Kind::ClaimExtended
            if e.expires > 0 =>
        {
            format!(" until {}", short_clock(e.expires, now))
        }
        _ => String::new(),
    };
    if has_reason(e) {
        out.push_str(": ");
        out.push_str(&e.reason);
    }
    out
}

/// Whether the event's `reason` is the change's own (not the ended freeze's, nor "left").
fn has_reason(e: &Event) -> bool {
    !e.reason.is_empty()
        && !matches!(
            e.kind,
            Kind::LeftQueue | Kind::Unfrozen | Kind::FreezeEnded | Kind::Refused
        )
}

/// Entries that read the same apart from the env: same change, same people, same reason, and
/// times in the same minute (one `freeze all` is one script per group, a few ms apart).
fn merge_key(entry: &Entry) -> String {
    let e = &entry.event;
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        e.kind_name(),
        e.holder,
        e.actor,
        e.reason,
        e.version,
        e.sha,
        e.expires / 60_000,
        e.until / 60_000,
    )
}

/// `prod`, `prod and qa`, `prod, canary and qa`, … `and 12 more`.
fn env_list(entries: &[&Entry], members: &[usize]) -> String {
    let mut names: Vec<&str> = members
        .iter()
        .map(|&i| entries[i].event.env.as_str())
        .collect();
    names.dedup();
    let more = names.len().saturating_sub(MAX_NAMES);
    names.truncate(MAX_NAMES);
    match (names.split_last(), more) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => last.to_string(),
        (Some((last, rest)), 0) => format!("{} and {last}", rest.join(", ")),
        (Some(_), more) => format!("{} and {more} more", names.join(", ")),
    }
}

/// `16:40 UTC` today, `2026-11-27 09:00 UTC` otherwise.
fn short_clock(ms: u64, now: u64) -> String {
    let (at, today) = (clock(ms), clock(now));
    if at.get(..10) == today.get(..10) {
        at.get(11..).unwrap_or(&at).to_string()
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_711_200_000; // 2026-11-26 16:40 UTC

    /// A reply's buttons as (label, command).
    fn buttons(r: &Reply) -> Vec<(&str, &str)> {
        r.buttons
            .iter()
            .map(|b| (b.label.as_str(), b.command.as_str()))
            .collect()
    }

    fn person(id: &str) -> Target {
        Target::parse(id, true).expect("a person")
    }

    fn entry(id: u64, fields: &[(&str, &str)]) -> Entry {
        Entry {
            stream: "s".into(),
            id: format!("{id}-0"),
            event: Event::from_fields(fields.iter().copied()),
            redelivered: false,
        }
    }

    fn frozen(env: &str, until: u64) -> Entry {
        let until = until.to_string();
        entry(
            1,
            &[
                ("kind", "frozen"),
                ("env", env),
                ("actor", "slack:UALICE"),
                ("actor_display", "alice"),
                ("reason", "release week"),
                ("until", &until),
            ],
        )
    }

    #[test]
    fn a_waiting_run_in_a_batch_keeps_its_buttons_and_a_long_repository_still_fits() {
        let repo = format!("acme/{}", "r".repeat(115));
        let holder = format!("github:{repo}#9876543210");
        let run = entry(
            2,
            &[
                ("kind", "queued"),
                ("env", "prod"),
                ("holder", &holder),
                ("display", "a run"),
                ("position", "1"),
            ],
        );
        let other = frozen("qa", NOW + 3_600_000);
        let out = announcements(&[&other, &run], NOW, &|_| true);
        let (_, r) = out
            .into_iter()
            .find(|(c, _)| c.len() == 2)
            .expect("one batch");
        assert_eq!(r.title, "2 changes");
        assert_eq!(
            buttons(&r),
            [
                ("Approve", "github approve prod 9876543210"),
                ("Reject", "github reject prod 9876543210")
            ]
        );
        assert!(r.buttons.iter().all(|b| b.command.len() <= 100));
    }

    #[test]
    fn overrides_and_turn_aways_are_announced_as_warnings_not_successes() {
        let tone = |fields: &[(&str, &str)]| {
            let e = entry(3, fields);
            announcements(&[&e], NOW, &|_| true)[0].1.tone
        };
        let by_admin = [
            ("env", "prod"),
            ("actor", "slack:UADMIN"),
            ("actor_display", "admin"),
        ];
        let with = |kind: &'static str, more: &[(&'static str, &'static str)]| {
            let mut f = vec![("kind", kind), ("holder", "slack:UBOB"), ("display", "bob")];
            f.extend_from_slice(&by_admin);
            f.extend_from_slice(more);
            f
        };
        assert_eq!(tone(&with("force_unlocked", &[])), Tone::Warning);
        assert_eq!(
            tone(&with("left_queue", &[("reason", "not today")])),
            Tone::Warning
        );
        assert_eq!(
            tone(&with("locked", &[("over_freeze", "1")])),
            Tone::Warning
        );
        assert_eq!(
            tone(&with("refused", &[("reason", "frozen")])),
            Tone::Warning
        );
        // Plain changes stay successes; a waiter leaving by itself is no warning.
        assert_eq!(tone(&with("locked", &[])), Tone::Success);
        let left = [
            ("kind", "left_queue"),
            ("env", "prod"),
            ("holder", "slack:UBOB"),
            ("display", "bob"),
            ("reason", "left"),
        ];
        assert_eq!(tone(&left), Tone::Success);
    }

    #[test]
    fn a_freeze_of_many_envs_is_one_line_and_one_message() {
        let envs: Vec<Entry> = ["prod", "canary", "qa"]
            .iter()
            .enumerate()
            .map(|(i, env)| frozen(env, NOW + 3_600_000 + i as u64))
            .collect();
        let refs: Vec<&Entry> = envs.iter().collect();
        let out = announcements(&refs, NOW, &|_| true);
        assert_eq!(out.len(), 1);
        let (covered, reply) = &out[0];
        assert_eq!(covered, &[0, 1, 2]);
        assert_eq!(reply.title, "alice froze prod, canary and qa");
        assert_eq!(reply.visibility, Visibility::InChannel);
        assert!(reply
            .fields
            .iter()
            .any(|f| f.name == "Reason" && f.value == Value::Text("release week".into())));
    }

    #[test]
    fn different_changes_in_one_moment_are_lines_of_one_message() {
        let a = frozen("prod", 0);
        let b = entry(
            2,
            &[
                ("kind", "lock_expired"),
                ("env", "qa"),
                ("holder", "slack:UBOB"),
                ("display", "bob"),
            ],
        );
        let out = announcements(&[&a, &b], NOW, &|_| true);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.title, "2 changes");
        assert_eq!(
            out[0].1.text.as_deref(),
            Some("• alice froze prod until someone unfreezes it: release week\n• bob's lock on qa expired")
        );
    }

    #[test]
    fn a_batch_is_split_where_the_platform_says_it_no_longer_fits_and_nothing_is_cut() {
        let all: Vec<Entry> = (0..50)
            .map(|i| {
                let env = format!("env-{i:02}");
                let reason = format!("{i:02}{}", "r".repeat(298));
                entry(
                    i,
                    &[
                        ("kind", "locked"),
                        ("env", &env),
                        ("display", "al"),
                        ("reason", &reason),
                    ],
                )
            })
            .collect();
        let refs: Vec<&Entry> = all.iter().collect();
        // A platform that takes at most 3,000 characters of text.
        let fits = |r: &Reply| r.text.as_deref().unwrap_or("").len() <= 3000;
        let out = announcements(&refs, NOW, &fits);
        assert!(out.len() > 1, "split into several messages");
        let mut seen: Vec<usize> = out.iter().flat_map(|(c, _)| c.clone()).collect();
        seen.sort();
        assert_eq!(
            seen,
            (0..50).collect::<Vec<_>>(),
            "each change exactly once"
        );
        for (covered, reply) in &out {
            assert!(fits(reply));
            let text = reply.text.clone().unwrap_or_else(|| reply.title.clone());
            for &i in covered {
                assert!(text.contains(&format!("env-{i:02}")), "{i} in its message");
            }
        }
    }

    #[test]
    fn a_change_on_many_envs_names_every_env() {
        let all: Vec<Entry> = (0..70)
            .map(|i| frozen(&format!("env-{i:02}"), NOW + 3_600_000))
            .collect();
        let refs: Vec<&Entry> = all.iter().collect();
        let out = announcements(&refs, NOW, &|_| true);
        let shown: String = out
            .iter()
            .map(|(_, r)| format!("{} {:?}", r.title, r.text))
            .collect();
        assert!(!shown.contains("more"), "{shown}");
        for i in 0..70 {
            assert!(
                shown.contains(&format!("env-{i:02}")),
                "env-{i:02} in {shown}"
            );
        }
    }

    #[test]
    fn a_reminder_dm_carries_extend_and_release_buttons() {
        let expires = (NOW + 15 * 60_000).to_string();
        let e = entry(
            3,
            &[
                ("kind", "claim_reminder"),
                ("env", "staging-2"),
                ("holder", "slack:UJANE"),
                ("display", "jane"),
                ("expires", &expires),
            ],
        );
        let r = direct(&e, &person("slack:UJANE"), NOW);
        assert_eq!(r.title, "Your claim on staging-2 ends in 15m");
        assert_eq!(
            buttons(&r),
            [
                ("Extend 1h", "extend staging-2 1h"),
                ("Release", "release staging-2")
            ]
        );
    }

    #[test]
    fn the_new_holder_is_told_until_when() {
        let expires = (NOW + 3_600_000).to_string();
        let e = entry(
            4,
            &[
                ("kind", "handed_off"),
                ("env", "staging-2"),
                ("holder", "discord:80351110224678912"),
                ("display", "jane"),
                ("expires", &expires),
            ],
        );
        let r = direct(&e, &person("discord:80351110224678912"), NOW);
        assert_eq!(r.title, "You now hold staging-2, until 17:40 UTC");
        assert_eq!(r.buttons[1].command, "unlock staging-2");
    }

    #[test]
    fn a_coming_freeze_window_is_announced_and_its_holders_told_what_runs_into_it() {
        let (at, starts, ends, lock_ends, claim_ends) = (
            NOW.to_string(),
            (NOW + 30 * 60_000).to_string(),
            (NOW + 64 * 3_600_000).to_string(),
            (NOW + 90 * 60_000).to_string(),
            (NOW + 26 * 3_600_000).to_string(),
        );
        let e = entry(
            4,
            &[
                ("kind", "window_notice"),
                ("env", "prod"),
                ("window", "weekend"),
                ("reason", "no deploys on weekends"),
                ("starts", &starts),
                ("ends", &ends),
                ("at", &at),
                ("holder", "slack:UALICE"),
                ("display", "alice"),
                ("expires", &lock_ends),
                ("claim_holder", "slack:UBOB"),
                ("claim_expires", &claim_ends),
            ],
        );
        let channel = announcements(&[&e], NOW, &|_| true);
        assert_eq!(
            channel[0].1.title,
            "the `weekend` freeze window starts on prod in 30m"
        );
        let dm = direct(&e, &person("slack:UALICE"), NOW);
        assert_eq!(
            dm.title,
            "Your deploy lock on prod (until 18:10 UTC) runs into the `weekend` freeze window, which starts in 30m"
        );
        assert_eq!(buttons(&dm), [("Unlock", "unlock prod")]);
        let dm = direct(&e, &person("slack:UBOB"), NOW);
        assert_eq!(
            dm.title,
            "Your claim on prod (until 2026-11-27 18:40 UTC) runs into the `weekend` freeze window, which starts in 30m"
        );
        assert_eq!(buttons(&dm), [("Release", "release prod")]);
    }

    #[test]
    fn a_waiting_github_run_says_behind_whom_and_offers_admins_approve_and_reject() {
        let e = entry(
            5,
            &[
                ("kind", "queued"),
                ("env", "prod"),
                ("holder", "github:acme/api#123"),
                ("display", "acme/api · run 123 by alice"),
                ("reason", "GitHub deployment to production"),
                ("position", "2"),
                ("behind", "bob"),
            ],
        );
        let (_, r) = announcements(&[&e], NOW, &|_| true).remove(0);
        assert_eq!(
            r.title,
            "acme/api · run 123 by alice waits for prod behind bob (2nd in line)"
        );
        assert_eq!(
            buttons(&r),
            [
                ("Approve", "github approve prod 123"),
                ("Reject", "github reject prod 123")
            ]
        );
        let rejected = entry(
            6,
            &[
                ("kind", "left_queue"),
                ("env", "prod"),
                ("holder", "github:acme/api#123"),
                ("display", "acme/api · run 123 by alice"),
                ("reason", "rejected by admin: not now"),
            ],
        );
        let (_, r) = announcements(&[&rejected], NOW, &|_| true).remove(0);
        assert_eq!(
            r.title,
            "acme/api · run 123 by alice rejected for prod (by admin: not now)"
        );
    }
}
