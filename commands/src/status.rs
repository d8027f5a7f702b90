//! Reads: `status` (every env, a pool, or one env) and `history`.

use std::time::Duration;

use crate::calendar::{Occurrence, Window};
use crate::catalog::Target;
use crate::ci_api::EnvStates;
use crate::command::{Privilege, ReadCommand};
use crate::config::EnvSettings;
use crate::domain::wall_clock;
use crate::domain::{human_duration, EnvName};
use crate::error::BatonError;
use crate::reply::{clock, Reply, ReplyData, Table, Tone, Value};
use crate::services::Status;
use crate::state::EnvState;
use crate::store::contracts::SettleArgs;
use crate::store::StoreError;
use crate::windows::{skip_mark, SKIP_AHEAD};

/// How many waiters one env's `status` names; the rest are counted.
const QUEUE_NAMED: usize = 10;
impl Status {
    /// Runs `status` or `history`.
    /// Runs a read for a reader of `role` (it decides which buttons the reply offers).
    pub(crate) async fn run(
        &self,
        command: ReadCommand,
        role: Privilege,
    ) -> Result<Reply, BatonError> {
        match command {
            ReadCommand::Status { target } => self.status(target.as_ref(), role).await,
            ReadCommand::Freezes { target } => self.freezes(target.as_ref()).await,
            ReadCommand::History { env, count } => {
                let env = self.catalog.env(&env)?;
                self.history(env, count).await
            }
        }
    }

    /// The current state of `envs`, settled first (one pipelined round trip): holds, freezes
    /// and how many wait, no waiter listed (the metrics' gauges).
    pub async fn env_states(
        &self,
        envs: Vec<&EnvSettings>,
    ) -> Result<(Vec<EnvState>, u64), BatonError> {
        let (states, now, unreached) = self.env_states_each(&SettleArgs::SWEEP, envs).await?;
        match unreached.into_iter().next() {
            Some((_, e)) => Err(e.into()),
            None => Ok((states, now)),
        }
    }

    /// The states people read (`status`, the env view, the status page): each with the first
    /// page of its line and its next scheduled window that is not skipped on it.
    pub async fn env_views(
        &self,
        envs: Vec<&EnvSettings>,
    ) -> Result<(Vec<EnvState>, u64, Vec<(Vec<EnvName>, StoreError)>), BatonError> {
        // With a calendar, each env's skip marks come too: the next window passes over them.
        let args = SettleArgs {
            skips: !self.store.calendar().windows().is_empty(),
            ..SettleArgs::STATUS
        };
        let (mut states, now, unreached) = self.env_states_each(&args, envs).await?;
        self.add_next_windows(&mut states);
        Ok((states, now, unreached))
    }

    /// The same, group by group: the states of the groups that answered, and the envs of those
    /// that did not (on a Cluster with a master down, the rest still answer). Fails only when
    /// none answered.
    async fn env_states_each(
        &self,
        args: &SettleArgs,
        envs: Vec<&EnvSettings>,
    ) -> Result<(Vec<EnvState>, u64, Vec<(Vec<EnvName>, StoreError)>), BatonError> {
        let (groups, calls) = self.per_group(args, envs);
        let (mut states, mut unreached, mut now) = (Vec::new(), Vec::new(), None);
        let answers = self.store.call_each(calls).await;
        for (names, answer) in groups.into_iter().zip(answers) {
            // A read: if it got no answer, nothing anyone asked for changed.
            match answer.map_err(StoreError::for_read) {
                Ok(a) => {
                    let (at, envs) = a.into_parts();
                    now.get_or_insert(at);
                    states.extend(envs);
                }
                Err(e) => unreached.push((names, e)),
            }
        }
        match (now, unreached.first()) {
            (None, Some((_, e))) => Err(e.clone().into()),
            _ => Ok((states, now.unwrap_or_else(wall_clock), unreached)),
        }
    }

    /// Fills in each env's next calendar window that is not skipped on it (the one on now shows
    /// as its freeze), by the skip marks its state carries. Each window's next occurrence is
    /// found once; only when an env skipped it are the next ones searched, as far as
    /// `freeze skip` reaches (one of those is not skipped). Only for the views that show it
    /// (`status`, the env view, the status page: [`Status::env_views`], which reads the marks),
    /// not for gate or metrics.
    fn add_next_windows(&self, states: &mut [EnvState]) {
        let calendar = self.store.calendar();
        let windows = calendar.windows();
        if windows.is_empty() {
            return;
        }
        let now = self.store.now();
        // Per window: its next occurrences found so far, and whether that is all there are to see.
        let mut ahead: Vec<Option<(Vec<Occurrence>, bool)>> = vec![None; windows.len()];
        for s in states {
            let skipped =
                |w: &Window, o: &Occurrence| s.skips.contains(&skip_mark(&w.name, o.start_ms()));
            let mut next: Option<(&Window, Occurrence)> = None;
            for (w, found) in windows.iter().zip(ahead.iter_mut()) {
                if !w.covers_env(&s.env) {
                    continue;
                }
                let (list, whole) = found.get_or_insert_with(|| (w.upcoming(now, 1), false));
                if !*whole && list.first().is_some_and(|o| skipped(w, o)) {
                    *list = w.upcoming(now, SKIP_AHEAD + 1);
                    *whole = true;
                }
                let first = list.iter().find(|o| !skipped(w, o));
                if let Some(o) = first.filter(|o| next.is_none_or(|(_, n)| o.start < n.start)) {
                    next = Some((w, *o));
                }
            }
            s.next_window = next.map(|(w, o)| crate::state::NextWindow {
                name: w.name.clone(),
                reason: w.reason.clone(),
                starts: o.start_ms(),
                ends: o.end_ms(),
                zone: w.tz.name().to_string(),
            });
        }
    }

    /// `status [env|pool]`, for a reader of `role`.
    pub(crate) async fn status(
        &self,
        target: Option<&EnvName>,
        role: Privilege,
    ) -> Result<Reply, BatonError> {
        let view = self.env_view(target, role).await?;
        Ok(view.reply.with_data(ReplyData::Envs { envs: view.envs }))
    }

    /// The states `status` shows, typed, with its reply; the reply's buttons are those a reader
    /// of `role` can use.
    pub(crate) async fn env_view(
        &self,
        target: Option<&EnvName>,
        role: Privilege,
    ) -> Result<EnvStates, BatonError> {
        let envs: Vec<&EnvSettings> = match target {
            None => self.catalog.envs().iter().collect(),
            Some(name) => match self.catalog.target(name)? {
                Target::Env(e) => vec![e],
                Target::Pool(p) => p
                    .members
                    .iter()
                    .map(|m| self.catalog.env(m))
                    .collect::<Result<_, _>>()?,
            },
        };
        let (states, now, unreached) = self.env_views(envs).await?;
        let mut reply = match (target, states.as_slice()) {
            (Some(_), [one]) => {
                let protected =
                    (self.catalog.envs().iter()).any(|e| e.name.as_str() == one.env && e.protected);
                detail(one, now, Offer::to(role, protected))
            }
            _ => table(target, &states, now),
        };
        if !unreached.is_empty() {
            let names: Vec<&str> = unreached
                .iter()
                .flat_map(|(names, _)| names.iter().map(EnvName::as_str))
                .collect();
            let why = &unreached[0].1;
            let note = format!("Not shown: {} ({why}).", names.join(", "));
            let text = reply
                .text
                .take()
                .map_or(note.clone(), |t| format!("{t}\n{note}"));
            reply = reply.with_text(text);
        }
        Ok(EnvStates {
            envs: states,
            reply,
        })
    }

    /// `history <env> [n]`: newest first, straight from the env's audit stream.
    pub(crate) async fn history(
        &self,
        env: &EnvSettings,
        count: usize,
    ) -> Result<Reply, BatonError> {
        let group = self.catalog.group_of(env);
        let entries = self.store.env_history(group, &env.name, count).await?;
        let now = wall_clock();
        if entries.is_empty() {
            return Ok(Reply::new(
                Tone::Info,
                format!("Nothing has happened on {} yet", env.name),
                now,
            ));
        }
        let lines: Vec<String> = entries.iter().map(crate::wording::history_line).collect();
        Ok(Reply::new(
            Tone::Info,
            format!("History of {} (newest first)", env.name),
            now,
        )
        .with_text(lines.join("\n")))
    }
}

/// What a reader may be offered on one env: nothing (a protected env, for someone who may not
/// take it), or the buttons that act on it; over a freeze, only what the freeze allows them.
#[derive(Clone, Copy)]
struct Offer {
    take: bool,
    over_freeze: bool,
}

impl Offer {
    fn to(role: Privilege, protected: bool) -> Self {
        Self {
            take: !protected || role >= Privilege::Deployer,
            over_freeze: role == Privilege::Admin,
        }
    }
}

fn detail(s: &EnvState, now: u64, offer: Offer) -> Reply {
    let mut r = Reply::new(Tone::Info, format!("{}: {}", s.env, summary(s)), now);
    if let Some(l) = &s.lock {
        r = r
            .field("Locked by", Value::Person(l.display.clone()))
            .text_field("Reason", &l.reason)
            .field("Since", Value::Time(l.since))
            .field("Expires", Value::Time(l.expires))
            .field("Fence", Value::Text(l.fence.to_string()));
    }
    if let Some(c) = &s.claim {
        r = r
            .field("Claimed by", Value::Person(c.display.clone()))
            .text_field("Note", &c.reason)
            .field("Claim expires", Value::Time(c.expires));
    }
    if let Some(f) = &s.freeze {
        r = r
            .field(
                "Frozen by",
                match &f.window {
                    Some(_) => Value::Text(f.by_whom()),
                    None => Value::Person(f.display.clone()),
                },
            )
            .text_field("Freeze reason", &f.reason);
        if f.until > 0 {
            r = r.field("Frozen until", Value::Time(f.until));
        }
    }
    if !s.queue.is_empty() {
        let mut q: Vec<String> = s
            .queue
            .iter()
            .take(QUEUE_NAMED)
            .enumerate()
            .map(|(i, w)| match &w.set {
                // A set waiter: with the other envs it waits for together.
                Some(set) => {
                    let others: Vec<&str> = set.split(',').filter(|e| *e != s.env).collect();
                    format!("{}. {} (with {})", i + 1, w.display, others.join(", "))
                }
                None => format!("{}. {}", i + 1, w.display),
            })
            .collect();
        let more = s.queued.max(s.queue.len()) - q.len();
        if more > 0 {
            q.push(format!("and {more} more"));
        }
        r = r.field("Queue", Value::Text(q.join(", ")));
    }
    if let Some(w) = &s.next_window {
        r = r
            .field(
                "Next freeze",
                Value::Text(format!("the `{}` window ({})", w.name, w.zone)),
            )
            .field("Starts", Value::Time(w.starts))
            .field("Ends", Value::Time(w.ends));
    }
    if let Some(d) = &s.deploy {
        let (what, by) = (d.what(), &d.display);
        r = r.field("Last deploy", Value::Text(format!("{what} by {by}")));
    }
    let name = &s.env;
    if !offer.take {
        return r;
    }
    // A frozen env takes no lock or claim (but an admin's), and its line waits: joining it is
    // what a reader can still do.
    if s.freeze.is_some() && !offer.over_freeze {
        return r.button("Join queue", format!("queue {name}"), false);
    }
    match (&s.lock, &s.claim) {
        (Some(_), _) => r.button("Join queue", format!("queue {name}"), false),
        (None, None) => r.button("Lock", format!("lock {name}"), true).button(
            "Claim",
            format!("claim {name}"),
            false,
        ),
        (None, Some(_)) => r.button("Lock", format!("lock {name}"), true),
    }
}

fn table(target: Option<&EnvName>, states: &[EnvState], now: u64) -> Reply {
    let headers = ["Env", "Lock", "Claim", "Freeze", "Queue"]
        .map(String::from)
        .to_vec();
    let hold_cell = |h: &Option<crate::state::Hold>| match h {
        Some(h) => Value::Text(format!(
            "{} ({} left){}",
            h.display,
            left(h.expires, now),
            if h.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", h.reason)
            }
        )),
        None => Value::Text("free".into()),
    };
    let rows = states
        .iter()
        .map(|s| {
            vec![
                Value::Text(s.env.clone()),
                hold_cell(&s.lock),
                hold_cell(&s.claim),
                Value::Text(match &s.freeze {
                    Some(f) if f.window.is_some() => {
                        format!("{} until {}", f.by_whom(), clock(f.until))
                    }
                    Some(f) if f.until > 0 => format!("until {}", clock(f.until)),
                    Some(_) => "frozen".into(),
                    None => String::new(),
                }),
                Value::Text(match s.queued.max(s.queue.len()) {
                    0 => String::new(),
                    n => n.to_string(),
                }),
            ]
        })
        .collect();
    let busy = states
        .iter()
        .filter(|s| s.lock.is_some() || s.claim.is_some())
        .count();
    let title = match target {
        Some(pool) => format!("Pool {pool}: {busy} of {} in use", states.len()),
        None => format!("{busy} of {} envs in use", states.len()),
    };
    let mut r = Reply::new(Tone::Info, title, now);
    r.table = Some(Table { headers, rows });
    r
}

fn summary(s: &EnvState) -> String {
    let mut parts = Vec::new();
    if s.freeze.is_some() {
        parts.push("frozen");
    }
    if s.lock.is_some() {
        parts.push("locked");
    }
    if s.claim.is_some() {
        parts.push("claimed");
    }
    if parts.is_empty() {
        "free".into()
    } else {
        parts.join(", ")
    }
}

fn left(expires: u64, now: u64) -> String {
    human_duration(Duration::from_millis(expires.saturating_sub(now)))
}
