//! Freezes: `freeze` and `unfreeze`, of one env or of all. One script call per hash-tag group,
//! pipelined in one round trip (concurrent on a Cluster, where a master that is down fails only
//! its own groups, and the reply says which envs changed and which could not be reached).

use crate::grammar::MAX_FREEZE;

use crate::catalog::Target;
use crate::command::{FreezeCommand, FreezeSpan, Scope};
use crate::config::EnvSettings;
use crate::domain::wall_clock;
use crate::domain::{Actor, EnvName};
use crate::error::BatonError;
use crate::reply::{clock, Reply, Tone};
use crate::services::Locks;
use crate::store::contracts::{Changed, FreezeAnswer, FreezeArgs};
use crate::store::StoreError;

impl Locks {
    /// Runs `freeze` or `unfreeze` over the envs their scope covers.
    pub(crate) async fn run_freezes(
        &self,
        actor: &Actor,
        command: FreezeCommand,
    ) -> Result<Reply, BatonError> {
        match command {
            FreezeCommand::Freeze {
                scope,
                span,
                reason,
            } => {
                let envs = self.scope(&scope)?;
                self.freeze(actor, &scope, envs, span, reason).await
            }
            FreezeCommand::Unfreeze { scope } => {
                let envs = self.scope(&scope)?;
                self.unfreeze(actor, &scope, envs).await
            }
        }
    }

    /// The envs a freeze scope covers: one env, a pool's members, or all.
    fn scope(&self, scope: &Scope) -> Result<Vec<&EnvSettings>, BatonError> {
        match scope {
            Scope::All => Ok(self.catalog.envs().iter().collect()),
            Scope::Env(name) => match self.catalog.target(name)? {
                Target::Env(e) => Ok(vec![e]),
                Target::Pool(p) => p.members.iter().map(|m| self.catalog.env(m)).collect(),
            },
        }
    }

    /// `freeze`: one call per group, pipelined in one round trip.
    pub(crate) async fn freeze(
        &self,
        actor: &Actor,
        scope: &Scope,
        envs: Vec<&EnvSettings>,
        span: FreezeSpan,
        reason: String,
    ) -> Result<Reply, BatonError> {
        let zone = self.catalog.timezone();
        let (until, rel) = window(&span, zone, self.store.now())?;
        let scope_arg = if matches!(scope, Scope::All) {
            "all"
        } else {
            "env"
        };
        let args = FreezeArgs {
            unfreeze: false,
            actor: &actor.id,
            display: &actor.display,
            reason: &reason,
            until_ms: until,
            scope: scope_arg,
            for_ms: rel,
        };
        let (answers, unreached) = reached(self.freeze_calls(envs, args).await)?;
        if answers.is_empty() {
            // Every group reached judged the time past, by Redis' clock.
            return Err(BatonError::Usage {
                message: format!("{} is in the past; freeze until a later time", clock(until)),
                usage: None,
            });
        }
        let now = answers.first().map(|a| a.0).unwrap_or_else(wall_clock);
        let names: Vec<String> = answers
            .iter()
            .flat_map(|a| a.1.iter().map(|c| c.env.clone()))
            .collect();
        let held: Vec<String> = answers
            .iter()
            .flat_map(|a| a.1.iter())
            .filter_map(|c| {
                c.lock
                    .as_ref()
                    .map(|l| format!("{} ({})", c.env, l.display))
            })
            .collect();
        let span_text = match span {
            FreezeSpan::UntilLifted => "until someone unfreezes it".to_string(),
            FreezeSpan::For(d) => format!("for {d}"),
            FreezeSpan::Until(u) => format!(
                "until {} ({})",
                clock(until),
                local_time(until, u.zone.unwrap_or(zone))
            ),
        };
        let mut r = Reply::new(
            Tone::Success,
            format!(
                "{} froze {} {span_text}",
                actor.display,
                if unreached.is_empty() {
                    describe(scope, &names)
                } else {
                    names.join(", ")
                }
            ),
            now,
        )
        .text_field("Reason", &reason)
        .button("Unfreeze", format!("unfreeze {}", scope_word(scope)), false);
        if !held.is_empty() {
            r = r.with_text(format!(
                "Still locked (a freeze does not end a lock): {}.",
                held.join(", ")
            ));
        }
        Ok(with_unreached(r, unreached))
    }

    /// `unfreeze`.
    pub(crate) async fn unfreeze(
        &self,
        actor: &Actor,
        scope: &Scope,
        envs: Vec<&EnvSettings>,
    ) -> Result<Reply, BatonError> {
        let args = FreezeArgs {
            unfreeze: true,
            actor: &actor.id,
            display: &actor.display,
            reason: "",
            until_ms: 0,
            scope: "env",
            for_ms: 0,
        };
        let (answers, unreached) = reached(self.freeze_calls(envs, args).await)?;
        let now = answers.first().map(|a| a.0).unwrap_or_else(wall_clock);
        let changed: Vec<_> = answers.iter().flat_map(|a| a.1.iter()).collect();
        if changed.is_empty() {
            return Err(BatonError::Refused(format!(
                "{} is not frozen",
                scope_word(scope)
            )));
        }
        let names: Vec<String> = changed.iter().map(|c| c.env.clone()).collect();
        let reasons: Vec<String> = changed
            .iter()
            .filter_map(|c| c.was.as_ref())
            .map(|f| f.reason.clone())
            .filter(|r| !r.is_empty())
            .collect();
        let mut r = Reply::new(
            Tone::Success,
            format!("{} unfroze {}", actor.display, describe(scope, &names)),
            now,
        );
        if let Some(reason) = reasons.first() {
            r = r.text_field("Was frozen for", reason);
        }
        Ok(with_unreached(r, unreached))
    }

    /// One freeze call per group, each with its own outcome.
    async fn freeze_calls(
        &self,
        envs: Vec<&EnvSettings>,
        args: FreezeArgs<'_>,
    ) -> Vec<(Vec<EnvName>, Result<FreezeAnswer, StoreError>)> {
        let (names, calls) = self.per_group(&args, envs);
        names
            .into_iter()
            .zip(self.store.call_each(calls).await)
            .collect()
    }
}

/// Splits a multi-group change into the answers of the groups it reached and the envs of those it
/// could not, with why. When it reached none, it fails as a whole. A group that found the freeze's
/// `until` past changed nothing and is in neither list.
type Unreached = Vec<(Vec<EnvName>, StoreError)>;
/// What a group that answered reported: Redis' clock and the envs it changed.
type Reached = (u64, Vec<Changed>);
fn reached(
    outcomes: Vec<(Vec<EnvName>, Result<FreezeAnswer, StoreError>)>,
) -> Result<(Vec<Reached>, Unreached), BatonError> {
    let (mut answers, mut unreached) = (Vec::new(), Vec::new());
    for (names, outcome) in outcomes {
        match outcome {
            Ok(FreezeAnswer::Ok { now, changed }) => answers.push((now, changed)),
            Ok(FreezeAnswer::Past {}) => {}
            Err(e) => unreached.push((names, e)),
        }
    }
    match unreached.first() {
        Some((_, e)) if answers.is_empty() => Err(e.clone().into()),
        _ => Ok((answers, unreached)),
    }
}

/// Says which envs a multi-group change could not reach, and whether they changed, after what
/// the reply already says.
fn with_unreached(r: Reply, unreached: Unreached) -> Reply {
    if unreached.is_empty() {
        return r;
    }
    let mut lines: Vec<String> = r.text.iter().cloned().collect();
    for (names, e) in unreached {
        let names: Vec<&str> = names.iter().map(EnvName::as_str).collect();
        let what = match e {
            StoreError::Unknown => {
                "did not answer in time, so they may or may not have changed; check `status`"
            }
            _ => "could not be reached, so they did not change; try again for them",
        };
        lines.push(format!(
            "Not done for {}: their part of the state store {what} ({e}).",
            names.join(", ")
        ));
    }
    r.with_text(lines.join("\n"))
}

/// A freeze's end for the script: `(until ms, 0)` for a time, `(0, ms)` for a duration from
/// Redis' now, `(0, 0)` until lifted. A time typed without a zone is in `zone`, read around
/// `now`, Redis' clock (a weekday or a bare time is the next one after it); one more than a year
/// ahead is refused. Whether it is past is the script's to say, by Redis' own clock.
fn window(
    span: &FreezeSpan,
    zone: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, u64), BatonError> {
    Ok(match span {
        FreezeSpan::UntilLifted => (0, 0),
        FreezeSpan::For(d) => (0, d.as_millis()),
        FreezeSpan::Until(until) => {
            let at = until.resolve(now, zone);
            if at - now > chrono::Duration::from_std(MAX_FREEZE).unwrap_or(chrono::Duration::MAX) {
                return Err(BatonError::Usage {
                    message:
                        "a freeze can last at most a year; pick an earlier date, or unfreeze by hand"
                            .into(),
                    usage: None,
                });
            }
            // Before 1970 is past too, never 0 ("until lifted").
            (at.timestamp_millis().max(1) as u64, 0)
        }
    })
}

fn scope_word(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Env(e) => e.to_string(),
    }
}

fn describe(scope: &Scope, names: &[String]) -> String {
    match scope {
        Scope::All => format!("all {} envs", names.len()),
        Scope::Env(e) if names.len() == 1 && names[0] == e.as_str() => e.to_string(),
        Scope::Env(e) => format!("{e} ({})", names.join(", ")),
    }
}

/// `ms` as people in `zone` read it: `Fri 18:00 Europe/Berlin`.
pub(crate) fn local_time(ms: u64, zone: chrono_tz::Tz) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
    format!(
        "{} {}",
        at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M"),
        zone.name()
    )
}
