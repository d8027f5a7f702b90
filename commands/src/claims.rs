//! Staging claims: `claim` (one env, or any free member of a pool in one atomic step) and
//! `release`. `extend` is shared with deploy locks.

use crate::catalog::Target;
use crate::command::ClaimCommand;
use crate::config::EnvSettings;
use crate::domain::new_token;
use crate::domain::{Actor, EnvName, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::reply::{clock, Reply, ReplyData, Tone, Value};
use crate::services::Claims;
use crate::store::contracts::{ClaimAnswer, ClaimArgs};

impl Claims {
    /// Runs `claim` or `release`.
    pub(crate) async fn run(
        &self,
        actor: &Actor,
        admin: bool,
        command: ClaimCommand,
    ) -> Result<Reply, BatonError> {
        match command {
            ClaimCommand::Claim {
                target,
                count,
                ttl,
                note,
            } => self.claim(actor, admin, &target, count, ttl, note).await,
            ClaimCommand::Release { env } => {
                let env = self.catalog.env(&env)?;
                self.release(actor, env, false).await
            }
        }
    }

    /// `claim <env|pool> [count] [ttl] [note]`: `count` members of a pool, all or none.
    pub(crate) async fn claim(
        &self,
        actor: &Actor,
        admin: bool,
        target: &EnvName,
        count: usize,
        ttl: Option<Ttl>,
        note: String,
    ) -> Result<Reply, BatonError> {
        let (group, members, ttl) = match self.catalog.target(target)? {
            Target::Env(e) => (
                self.catalog.group_of(e),
                vec![&e.name],
                self.ttl_for(target.as_str(), ttl, e.default_ttl, e.max_ttl)?,
            ),
            Target::Pool(p) => (
                &p.name,
                p.members.iter().collect(),
                self.ttl_for(target.as_str(), ttl, p.default_ttl, p.max_ttl)?,
            ),
        };
        if count > members.len() {
            let what = match members.len() {
                1 => format!("{target} is one env"),
                n => format!("pool {target} has {n} envs"),
            };
            return Err(BatonError::Usage {
                message: format!("{what}, so you cannot claim {count} of it; ask for fewer"),
                usage: None,
            });
        }
        let args = ClaimArgs {
            holder: &actor.id,
            display: &actor.display,
            note: &note,
            ttl_ms: ttl.as_millis(),
            token: &new_token(),
            admin,
            count,
        };
        let call = self.store.prepare(&args, group, &members);
        match self.store.call_acquire(call).await? {
            ClaimAnswer::Ok {
                now,
                env,
                claim,
                more,
            } if !more.is_empty() => Ok(several_reply(actor, target, ttl, now, (env, claim), more)),
            ClaimAnswer::Ok {
                now, env, claim, ..
            } => {
                let from_pool = if env != target.as_str() {
                    format!(" from pool {target}")
                } else {
                    String::new()
                };
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} claimed {env}{from_pool} for {ttl}", actor.display),
                    now,
                )
                .hold_fields(&claim)
                .button("Release", format!("release {env}"), false)
                .button("Extend 1h", format!("extend {env} 1h"), false)
                .with_data(ReplyData::Grant {
                    env,
                    kind: "claim".into(),
                    hold: claim,
                    token: None,
                }))
            }
            ClaimAnswer::Already { env, claim, .. } => Err(BatonError::Refused(format!(
                "you already hold {env} until {}; `extend {env} 1h` keeps it longer, `release {env}` gives it back",
                clock(claim.expires)
            ))),
            ClaimAnswer::Frozen { now, env, freeze } => {
                Err(crate::outcomes::frozen(&env, freeze, now))
            }
            ClaimAnswer::Taken {
                now,
                soonest: Some(soonest),
                ..
            } if members.len() == 1 => Err(BatonError::Held {
                env: soonest.env,
                kind: HoldKind::Claim,
                hold: Box::new(soonest.claim),
                queue: 0,
                now,
                frozen: None,
            }),
            ClaimAnswer::Taken { now, soonest, free } => Err(BatonError::PoolFull {
                pool: target.to_string(),
                soonest: soonest.map(|s| Box::new((s.env, s.claim))),
                short: (free > 0).then_some((free, count)),
                now,
            }),
        }
    }

    /// `release <env>` (`--force` for admins).
    pub(crate) async fn release(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        force: bool,
    ) -> Result<Reply, BatonError> {
        self.locks()
            .end_hold(actor, env, HoldKind::Claim, force)
            .await
    }
}

/// The answer to a claim of several members: who took which, each with its fence, and a
/// Release button for each.
fn several_reply(
    actor: &Actor,
    pool: &EnvName,
    ttl: Ttl,
    now: u64,
    first: (String, crate::state::Hold),
    more: Vec<crate::store::contracts::Soonest>,
) -> Reply {
    let all: Vec<(String, crate::state::Hold)> = std::iter::once(first)
        .chain(more.into_iter().map(|m| (m.env, m.claim)))
        .collect();
    let names: Vec<&str> = all.iter().map(|(env, _)| env.as_str()).collect();
    let listed = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    };
    let (_, hold) = &all[0];
    let mut reply = Reply::new(
        Tone::Success,
        format!(
            "{} claimed {listed} from pool {pool} for {ttl}",
            actor.display
        ),
        now,
    )
    .field("Holder", Value::Person(hold.display.clone()))
    .text_field("Note", &hold.reason)
    .field("Expires", Value::Time(hold.expires));
    for (env, hold) in &all {
        reply = reply.field(env, Value::Text(format!("fence {}", hold.fence)));
    }
    for (env, _) in &all {
        reply = reply.button(&format!("Release {env}"), format!("release {env}"), false);
    }
    let (env, hold) = all.into_iter().next().expect("one at least");
    reply.with_data(ReplyData::Grant {
        env,
        kind: "claim".into(),
        hold,
        token: None,
    })
}
