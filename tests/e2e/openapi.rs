//! The served OpenAPI document is the CI API's contract: an independent property-based fuzzer
//! (schemathesis, pinned, installed by `.ci/run`) reads it from the running service and sends
//! every operation at least 100 generated requests, schema-valid and not, with every check on,
//! against envs in real states (one held, one frozen, a pool claimed, a deploy recorded). And the
//! document validates as OpenAPI 3.1 (openapi-spec-validator, pinned).
//!
//! `GET /api/v1/events` is left out of the fuzzing: a stream never ends, so the fuzzer would wait
//! on its first request until the request timeout. Its refusals are tested in `doors.rs` and
//! `ci_api.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{missing, spawn_core_with, TestApp, TOKEN_ALL};

/// The pinned fuzzer and validator; `.ci/run` installs these versions.
const SCHEMATHESIS: &str = "4.32.5";
const SPEC_VALIDATOR: &str = "0.9.0";
/// Generated requests per operation, at least.
const EXAMPLES: u64 = 100;

/// The installed version of a Python package, or None.
fn installed(package: &str) -> Option<String> {
    let out = Command::new("python3")
        .args(["-m", "pip", "show", package])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: ").map(str::to_string))
}

fn pinned(package: &str, version: &str) -> bool {
    match installed(package) {
        Some(v) if v == version => true,
        found => missing(
            "the OpenAPI contract test",
            &format!(
                "{package}=={version} (found {found:?}; `python3 -m pip install '{package}=={version}'`)"
            ),
        ),
    }
}

/// The service with realistic state: `qa` held by alice, `canary` frozen, a `staging` member
/// claimed, a deploy recorded on `prod`. Every env shares one `max_ttl`, so the document's one
/// `ttl` maximum is every env's (an env with a shorter one refuses more with a documented 400);
/// `ci.max_wait` is short, so a schema-valid wait on the held env ends within the run.
async fn realistic_app() -> TestApp {
    let mut app = spawn_core_with(|c| {
        c.ci.max_wait = Duration::from_secs(2);
        // The fuzzer probes every operation without its token, hundreds of times from one
        // address; the limiter that answers 429 to that is tested in `doors.rs`.
        c.ci.auth_failure_burst = 100_000;
        c.defaults.max_ttl = Duration::from_secs(8 * 3600);
        for e in &mut c.envs {
            e.max_ttl = None;
        }
        for p in &mut c.pools {
            p.max_ttl = None;
        }
    })
    .await;
    app.start_instance().await;
    app.ok("alice", "lock qa 50m migration").await;
    app.ok("alice", "freeze canary 1h release week").await;
    app.ok("bob", "claim staging 1h").await;
    let recorded = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/deploys/prod"))
        .json(&serde_json::json!({"sha": "4f2a9c1", "version": "v1.42.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 200);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_fuzzer_finds_the_served_contract_exact_on_every_operation() {
    if !pinned("schemathesis", SCHEMATHESIS) || !pinned("openapi-spec-validator", SPEC_VALIDATOR) {
        return;
    }
    let app = realistic_app().await;
    let dir = std::env::temp_dir().join(format!("baton-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let document = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served = dir.join("openapi.json");
    std::fs::write(&served, &document).unwrap();
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/src/openapi.json");
    for file in [served.as_path(), Path::new(template)] {
        let out = Command::new("python3")
            .args(["-m", "openapi_spec_validator", "--schema", "3.1.0"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} is not valid OpenAPI 3.1:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let report = dir.join("report.ndjson");
    let started = Instant::now();
    let run = Command::new("python3")
        .args(["-m", "schemathesis.cli"])
        .arg("--config-file")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openapi/schemathesis.toml"
        ))
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {TOKEN_ALL}")])
        .args(["--checks", "all", "--mode", "all"])
        .args(["--max-examples", &EXAMPLES.to_string()])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // One worker: two cores are shared with the service and Redis, and Python 3.11's parser
        // is not safe from the fuzzer's threads (a `SystemError` in `ast.parse`).
        .args(["--workers", "1", "--request-timeout", "10", "--seed", "31"])
        .args(["--exclude-operation-id", "events"])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&run.stdout);
    eprintln!("{output}\n(schemathesis ran {:?})", started.elapsed());
    assert!(
        run.status.success(),
        "schemathesis found the served document and the service disagree:\n{output}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let counts = cases_per_operation(&std::fs::read_to_string(&report).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("generated requests per operation: {counts:#?}");
    assert_eq!(counts.len(), 11, "every operation but events: {counts:?}");
    for (operation, n) in &counts {
        // `GET /api/v1/envs` takes no input at all: its few requests are every one there is.
        let least = if operation == "GET /api/v1/envs" {
            1
        } else {
            EXAMPLES
        };
        assert!(*n >= least, "{operation} got {n} generated requests");
    }
}

/// How many requests the fuzzer generated for each operation (its probes, such as the same request
/// without a token, not counted), from its ndjson report.
fn cases_per_operation(ndjson: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for event in ndjson
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let recorder = &event["ScenarioFinished"]["recorder"];
        let (Some(label), Some(cases)) =
            (recorder["label"].as_str(), recorder["cases"].as_object())
        else {
            continue;
        };
        let generated = cases.values().filter(|c| c["parent_id"].is_null()).count() as u64;
        *counts.entry(label.to_string()).or_default() += generated;
    }
    counts
}
