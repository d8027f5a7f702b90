//! Webhook bodies to what Baton acts on, through octocrab's webhook models.

use baton_commands::RunRequest;
use octocrab::models::webhook_events::{WebhookEvent, WebhookEventPayload};

/// What a webhook asks of Baton.
#[derive(Debug)]
pub enum Event {
    /// A run waits for a protected environment (`deployment_protection_rule`, requested).
    Requested(RunRequest),
    /// A deployment reached a final state (`deployment_status`): its run lets go.
    DeploymentDone(u64),
    /// A workflow run completed (`workflow_run`): it lets go everywhere.
    RunDone {
        /// `owner/repo`.
        repo: String,
        /// The run's id.
        run_id: u64,
    },
}

/// States after which a deployment holds nothing.
const FINAL: [&str; 4] = ["success", "failure", "error", "inactive"];

/// The event in `body`, `None` when it asks nothing of Baton; an error names what is missing.
pub fn read(kind: &str, body: &[u8]) -> Result<Option<Event>, String> {
    if !matches!(
        kind,
        "deployment_protection_rule" | "deployment_status" | "workflow_run"
    ) {
        return Ok(None);
    }
    let event = WebhookEvent::try_from_header_and_body(kind, body)
        .map_err(|e| format!("the `{kind}` payload is not one GitHub sends: {e}"))?;
    let repo = event
        .repository
        .as_ref()
        .and_then(|r| r.full_name.clone())
        .ok_or("the payload names no repository")?;
    match event.specific {
        WebhookEventPayload::DeploymentProtectionRule(p) => {
            let callback = p
                .deployment_callback_url
                .as_deref()
                .ok_or("deployment_callback_url is missing")?;
            let (callback, run_id) = callback_path(callback)?;
            let installation = event
                .installation
                .as_ref()
                .map(|i| i.id().0)
                .ok_or("the payload names no App installation")?;
            let deployment = p.deployment.as_ref().and_then(|d| d["id"].as_u64());
            let created = p.deployment.as_ref().and_then(|d| d["created_at"].as_str());
            let created = created.ok_or("deployment.created_at is missing")?;
            let created_ms = chrono::DateTime::parse_from_rfc3339(created)
                .ok()
                .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
                .ok_or_else(|| {
                    format!(
                        "deployment.created_at `{}` is not an RFC 3339 time",
                        baton_commands::domain::preview(created)
                    )
                })?;
            let actor = event.sender.as_ref().map(|s| s.login.as_str());
            Ok(Some(Event::Requested(RunRequest {
                display: format!("{repo} · run {run_id} by {}", actor.unwrap_or("GitHub")),
                repo,
                environment: p.environment.clone().ok_or("environment is missing")?,
                run_id,
                installation,
                callback,
                deployment: deployment.ok_or("deployment.id is missing")?,
                created_ms,
            })))
        }
        WebhookEventPayload::DeploymentStatus(p) => {
            let state = p.deployment_status["state"].as_str().unwrap_or_default();
            let id = p.deployment["id"].as_u64();
            Ok(FINAL
                .contains(&state)
                .then_some(id)
                .flatten()
                .map(Event::DeploymentDone))
        }
        WebhookEventPayload::WorkflowRun(p) => {
            let done =
                p.workflow_run["status"] == "completed" || p.workflow_run["conclusion"].is_string();
            let run_id = p.workflow_run["id"].as_u64();
            Ok(run_id
                .filter(|_| done)
                .map(|run_id| Event::RunDone { repo, run_id }))
        }
        _ => Ok(None),
    }
}

/// The callback's path (`/repos/o/r/actions/runs/<id>/deployment_protection_rule`) and run id.
/// Only the path is kept: the installation token goes to the configured API base, never to a
/// host a payload names.
fn callback_path(url: &str) -> Result<(String, u64), String> {
    let bad = || {
        format!(
            "deployment_callback_url `{}` is not a run's protection-rule callback",
            baton_commands::domain::preview(url)
        )
    };
    let at = url.find("/repos/").ok_or_else(bad)?;
    let path = &url[at..];
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["repos", owner, repo, "actions", "runs", id, "deployment_protection_rule"]
            if !owner.is_empty() && !repo.is_empty() =>
        {
            let id = id.parse().map_err(|_| bad())?;
            Ok((path.to_string(), id))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_keep_only_their_path_and_refuse_anything_else() {
        let (path, id) = callback_path(
            "https://api.github.com/repos/o/r/actions/runs/42/deployment_protection_rule",
        )
        .unwrap();
        assert_eq!(
            (path.as_str(), id),
            ("/repos/o/r/actions/runs/42/deployment_protection_rule", 42)
        );
        let ghes =
            "https://ghe.example.com/api/v3/repos/o/r/actions/runs/7/deployment_protection_rule";
        assert_eq!(callback_path(ghes).unwrap().1, 7);
        for bad in [
            "https://evil.example/steal",
            "https://api.github.com/repos/o/r/actions/runs/x/deployment_protection_rule",
            "https://api.github.com/repos/o/r/issues/1",
        ] {
            assert!(callback_path(bad).is_err(), "{bad}");
        }
    }
}
