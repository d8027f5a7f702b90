//! `baton ci status`: the API's `EnvView`s as a table people can read in a CI log.

use serde::Deserialize;

use super::Failure;

/// `GET /envs` answers a list; `GET /envs/{env}` one view, or a list when `env` names a pool.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    List { envs: Vec<EnvView> },
    One(Box<EnvView>),
}

#[derive(Deserialize)]
struct EnvView {
    env: String,
    #[serde(default)]
    lock: Option<Hold>,
    #[serde(default)]
    claim: Option<Hold>,
    #[serde(default)]
    freeze: Option<Freeze>,
    #[serde(default)]
    queue: Vec<Waiter>,
    /// How many wait (the server lists the first page of them in `queue`).
    #[serde(default)]
    queued: usize,
    #[serde(default)]
    last_deploy: Option<Deploy>,
}

#[derive(Deserialize)]
struct Hold {
    holder: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    fence: Option<u64>,
}

#[derive(Deserialize)]
struct Freeze {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

#[derive(Deserialize)]
struct Waiter {
    holder: String,
}

#[derive(Deserialize)]
struct Deploy {
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

const HEADERS: [&str; 6] = ["ENV", "LOCK", "CLAIM", "FREEZE", "QUEUE", "LAST DEPLOY"];

/// Renders `GET /api/v1/envs` or `/envs/{env}` as aligned columns.
pub fn table(body: &str) -> Result<String, Failure> {
    let views = match serde_json::from_str::<Answer>(body) {
        Ok(Answer::List { envs }) => envs,
        Ok(Answer::One(view)) => vec![*view],
        Err(e) => {
            return Err(Failure {
                code: 6,
                message: format!("Baton's status answer was not understood ({e}); try --json"),
            })
        }
    };
    let rows: Vec<[String; 6]> = views.iter().map(row).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(HEADERS.map(String::from)).chain(rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}

fn row(v: &EnvView) -> [String; 6] {
    let freeze = v.freeze.as_ref().map_or("-".into(), |f| {
        let mut s = format!("by {}", f.by.as_deref().unwrap_or("?"));
        match &f.until {
            Some(until) => s.push_str(&format!(" until {until}")),
            None => s.push_str(" until lifted"),
        }
        with_reason(s, f.reason.as_deref())
    });
    let queue = match v.queue.as_slice() {
        [] => "-".into(),
        q => format!(
            "{}: {}",
            v.queued.max(q.len()),
            q.iter()
                .map(|w| w.holder.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let deploy = v.last_deploy.as_ref().map_or("-".into(), |d| {
        let mut s: String = match (&d.version, &d.sha) {
            (Some(version), _) => version.clone(),
            (None, Some(sha)) => sha.chars().take(12).collect(),
            (None, None) => "?".into(),
        };
        if let Some(by) = &d.by {
            s.push_str(&format!(" by {by}"));
        }
        if let Some(at) = &d.at {
            s.push_str(&format!(" at {at}"));
        }
        s
    });
    [
        v.env.clone(),
        hold(v.lock.as_ref()),
        hold(v.claim.as_ref()),
        freeze,
        queue,
        deploy,
    ]
}

fn hold(h: Option<&Hold>) -> String {
    let Some(h) = h else { return "-".into() };
    let mut s = h.holder.clone();
    if let Some(fence) = h.fence {
        s.push_str(&format!(" (fence {fence})"));
    }
    if let Some(until) = &h.expires_at {
        s.push_str(&format!(" until {until}"));
    }
    with_reason(s, h.reason.as_deref())
}

fn with_reason(mut s: String, reason: Option<&str>) -> String {
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        s.push_str(&format!(": {r}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn the_status_table_shows_each_env_on_one_aligned_line() {
        let body = r#"{"envs":[
          {"env":"prod","lock":{"holder":"acme/api run 9","reason":"hotfix","since":"2026-11-26T10:35:00Z",
            "expires_at":"2026-11-26T10:55:00Z","fence":12},"claim":null,"freeze":null,
            "queue":[{"holder":"alice","reason":null,"since":"2026-11-26T10:40:00Z"}],"last_deploy":null},
          {"env":"qa","lock":null,"claim":null,"freeze":{"by":"ci:ops","reason":"release","since":"x","until":null},
            "queue":[],"last_deploy":{"sha":"0123456789abcdef","version":null,"url":null,"by":"ci:api","at":"2026-11-25T09:00:00Z"}}]}"#;
        let out = table(body).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("ENV   LOCK"), "{out}");
        assert!(
            lines[1].contains("acme/api run 9 (fence 12) until 2026-11-26T10:55:00Z: hotfix"),
            "{out}"
        );
        assert!(lines[1].contains("1: alice"), "{out}");
        assert!(
            lines[2].contains("by ci:ops until lifted: release"),
            "{out}"
        );
        assert!(lines[2].contains("0123456789ab by ci:api"), "{out}");
        let one =
            r#"{"env":"qa","lock":null,"claim":null,"freeze":null,"queue":[],"last_deploy":null}"#;
        assert_eq!(
            table(one).unwrap().lines().nth(1),
            Some("qa   -     -      -       -      -")
        );
    }
}
