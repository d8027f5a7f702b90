//! Staging claims: `claim` (one env, or any free member of a pool in one atomic step) and
//! `release`. `extend` is shared with deploy locks.

use crate::catalog::Target;
use crate::config::EnvSettings;
use crate::deploy::{held, unexpected};
use crate::domain::{Actor, EnvName, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::reply::{clock, Reply, ReplyData, Tone};
use crate::router::{new_token, Baton};
use crate::state::Answer;
use crate::store::scripts;

impl Baton {
    /// `claim <env|pool> [ttl] [note]`.
    pub(crate) async fn claim(
        &self,
        actor: &Actor,
        target: &EnvName,
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
        let call = self
            .store
            .script(&scripts::CLAIM, group, &members)
            .arg(&actor.id)
            .arg(&actor.display)
            .arg(&note)
            .arg(ttl.as_millis())
            .arg(new_token());
        let a: Answer = self.store.eval_acquire(call).await?;
        match a.status.as_str() {
            "ok" => {
                let env = a.env.ok_or(BatonError::Internal)?;
                let hold = a.claim.ok_or(BatonError::Internal)?;
                let from_pool = if env != target.as_str() {
                    format!(" from pool {target}")
                } else {
                    String::new()
                };
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} claimed {env}{from_pool} for {ttl}", actor.display),
                    a.now,
                )
                .hold_fields(&hold)
                .button("Release", format!("release {env}"), false)
                .button("Extend 1h", format!("extend {env} 1h"), false)
                .with_data(ReplyData::Grant {
                    env,
                    kind: "claim".into(),
                    hold,
                    token: None,
                }))
            }
            "already" => {
                let env = a.env.unwrap_or_default();
                let until = a.claim.map(|c| clock(c.expires)).unwrap_or_default();
                Err(BatonError::Refused(format!(
                    "you already hold {env} until {until}; `extend {env} 1h` keeps it longer, `release {env}` gives it back"
                )))
            }
            "taken" if members.len() == 1 => {
                let soonest = a.soonest.ok_or(BatonError::Internal)?;
                Err(held(
                    &soonest.env,
                    HoldKind::Claim,
                    Some(soonest.claim),
                    0,
                    a.now,
                ))
            }
            "taken" => Err(BatonError::PoolFull {
                pool: target.to_string(),
                soonest: a.soonest.map(|s| Box::new((s.env, s.claim))),
                now: a.now,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// `release <env>` (`--force` for admins).
    pub(crate) async fn release(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        force: bool,
    ) -> Result<Reply, BatonError> {
        self.end_hold(actor, env, HoldKind::Claim, force).await
    }
}
