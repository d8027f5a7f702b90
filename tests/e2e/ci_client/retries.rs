//! `baton ci` under the faults of issue 11: lost answers, `503 outcome_unknown`, timeouts, a full
//! or unreachable store. Every state change carries one idempotency key across its retries, so a
//! retry gets the original outcome; refusals are never retried; retries end at `--retry-for` and
//! then say whether anything may have changed.

use std::time::Duration;

use axum::http::Method;

use super::fake_baton::{Call, FakeBaton, Fault, API_TOKEN};
use super::{baton_ci, finish};

/// The one idempotency key every call in `calls` carried: 128 bits in hex.
fn one_key(calls: &[Call]) -> String {
    let key = calls[0].key.clone().expect("an Idempotency-Key is sent");
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    for call in calls {
        assert_eq!(
            call.key.as_ref(),
            Some(&key),
            "every retry carries the same key"
        );
    }
    key
}

#[tokio::test]
async fn a_lock_whose_answers_were_lost_is_retried_with_one_key_and_prints_the_original_token() {
    let fake = FakeBaton::start().await;
    fake.fault(Method::POST, "/locks/qa", Fault::Drop, 1);
    fake.fault(Method::POST, "/locks/qa", Fault::OutcomeUnknown, 1);
    let args = ["lock", "--env", "qa", "--retry-for", "30s"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout, "lock-qa-1\n",
        "the first attempt's grant: {out}"
    );
    assert!(out.stderr.contains("trying again"), "{out}");
    let calls = fake.calls_to(Method::POST, "/locks/qa");
    assert_eq!(calls.len(), 3, "{out}");
    one_key(&calls);
}

#[tokio::test]
async fn a_request_that_outlives_its_timeout_is_sent_again_with_the_same_key() {
    let fake = FakeBaton::start().await;
    fake.fault(
        Method::POST,
        "/locks/qa",
        Fault::Delay(Duration::from_secs(20)),
        1,
    );
    let args = [
        "lock",
        "--env",
        "qa",
        "--request-timeout",
        "1s",
        "--retry-for",
        "30s",
    ];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "lock-qa-1\n", "{out}");
    assert!(out.stderr.contains("did not answer within 1s"), "{out}");
    let calls = fake.calls_to(Method::POST, "/locks/qa");
    assert_eq!(calls.len(), 2, "{out}");
    one_key(&calls);
}

#[tokio::test]
async fn run_under_faults_runs_the_command_once_and_ends_with_an_unlock() {
    let fake = FakeBaton::start().await;
    let lock = "/locks/qa";
    fake.fault(Method::POST, lock, Fault::OutcomeUnknown, 1);
    fake.fault(Method::POST, lock, Fault::Drop, 1);
    fake.fault(
        Method::POST,
        lock,
        Fault::Unavailable("store_unavailable"),
        1,
    );
    fake.fault(Method::DELETE, lock, Fault::Drop, 1);
    fake.fault(Method::DELETE, lock, Fault::OutcomeUnknown, 1);
    fake.fault(Method::DELETE, lock, Fault::Unavailable("shutting_down"), 1);
    let args = [
        "run",
        "--env",
        "qa",
        "--retry-for",
        "30s",
        "--",
        "sh",
        "-c",
        "echo ran fence=$BATON_FENCE",
    ];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "ran fence=1\n", "the command ran once: {out}");
    assert!(out.stderr.contains("baton: released qa"), "{out}");
    assert_eq!(fake.holder("qa"), None, "no lock is left behind: {out}");

    let locks = fake.calls_to(Method::POST, lock);
    assert_eq!(locks.len(), 4, "{out}");
    let releases = fake.calls_to(Method::DELETE, lock);
    assert_eq!(releases.len(), 4, "{out}");
    assert_ne!(
        one_key(&locks),
        one_key(&releases),
        "taking and releasing are two operations"
    );
    for release in &releases {
        assert_eq!(release.body["token"], "lock-qa-1", "{}", release.body);
    }
}

#[tokio::test]
async fn an_extension_whose_answer_was_lost_is_retried_with_its_key_and_the_next_gets_a_new_one() {
    let fake = FakeBaton::start().await;
    fake.fault(Method::POST, "/extend", Fault::Drop, 1);
    let args = ["run", "--env", "qa", "--ttl", "3s", "--", "sleep", "4"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(0), "{out}");
    let extends = fake.calls_to(Method::POST, "/locks/qa/extend");
    assert!(extends.len() >= 3, "{} extensions: {out}", extends.len());
    one_key(&extends[..2]);
    assert_ne!(extends[1].key, extends[2].key, "a new extension, a new key");
    assert_eq!(fake.holder("qa"), None, "{out}");
}

#[tokio::test]
async fn refusals_are_never_retried() {
    let fake = FakeBaton::start().await;
    fake.hold("busy", "someone else");
    let keyed = ["lock", "--env", "qa", "--idempotency-key", "deploy-7:qa"];
    assert_eq!(
        finish(baton_ci(&fake.url, API_TOKEN, &keyed)).await.code,
        Some(0)
    );
    let cases: &[(&str, &[&str], i32, Method, &str)] = &[
        (
            "423 locked",
            &["lock", "--env", "busy"],
            3,
            Method::POST,
            "/locks/busy",
        ),
        (
            "403 forbidden",
            &["lock", "--env", "forbidden"],
            5,
            Method::POST,
            "/locks/forbidden",
        ),
        (
            "409 not_holder",
            &["unlock", "--env", "busy", "--lock-token", "x"],
            3,
            Method::DELETE,
            "/locks/busy",
        ),
        (
            "409 idempotency_key_reused: the key of another request",
            &[
                "lock",
                "--env",
                "qa",
                "--reason",
                "other",
                "--idempotency-key",
                "deploy-7:qa",
            ],
            2,
            Method::POST,
            "/locks/qa",
        ),
    ];
    for (what, args, code, method, path) in cases {
        let before = fake.calls_to(method.clone(), path).len();
        let mut args = args.to_vec();
        args.extend(["--retry-for", "30s"]);
        let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
        assert_eq!(out.code, Some(*code), "{what}: {out}");
        let sent = fake.calls_to(method.clone(), path).len() - before;
        assert_eq!(sent, 1, "{what}: sent once: {out}");
        assert!(!out.stderr.contains("trying again"), "{what}: {out}");
    }
}

#[tokio::test]
async fn retries_stop_at_the_deadline_and_say_that_nothing_was_changed() {
    let fake = FakeBaton::start().await;
    let args = ["lock", "--env", "down", "--retry-for", "3s"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(6), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("nothing was changed"), "{out}");
    let calls = fake.calls_to(Method::POST, "/locks/down");
    assert!(calls.len() >= 2, "retried: {out}");
    one_key(&calls);
    let span = calls.last().unwrap().at.duration_since(calls[0].at);
    assert!(
        span <= Duration::from_secs(3),
        "no attempt after the deadline: {span:?}"
    );
}

#[tokio::test]
async fn a_full_store_is_tried_three_times_only() {
    let fake = FakeBaton::start().await;
    fake.fault(
        Method::POST,
        "/locks/qa",
        Fault::Unavailable("store_full"),
        u32::MAX,
    );
    let args = ["lock", "--env", "qa", "--retry-for", "30s"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(6), "{out}");
    assert!(out.stderr.contains("nothing was changed"), "{out}");
    assert_eq!(fake.calls_to(Method::POST, "/locks/qa").len(), 3, "{out}");
}

#[tokio::test]
async fn a_lock_outcome_unknown_to_the_end_exits_6_and_its_key_learns_the_outcome_later() {
    let fake = FakeBaton::start().await;
    fake.fault(Method::POST, "/locks/qa", Fault::OutcomeUnknown, u32::MAX);
    let out = finish(baton_ci(&fake.url, API_TOKEN, &["lock", "--env", "qa"])).await;
    assert_eq!(out.code, Some(6), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("the outcome is unknown"), "{out}");
    let key = one_key(&fake.calls_to(Method::POST, "/locks/qa"));
    assert!(
        out.stderr.contains(&format!("--idempotency-key {key}")),
        "{out}"
    );

    fake.heal();
    let again = ["lock", "--env", "qa", "--idempotency-key", key.as_str()];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &again)).await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout, "lock-qa-1\n",
        "the lock the lost request took: {out}"
    );
}

#[tokio::test]
async fn run_whose_lock_outcome_stays_unknown_never_runs_the_command() {
    let fake = FakeBaton::start().await;
    fake.fault(Method::POST, "/locks/qa", Fault::OutcomeUnknown, u32::MAX);
    let args = ["run", "--env", "qa", "--", "echo", "ran"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(6), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("the outcome is unknown"), "{out}");
    assert!(out.stderr.contains("The command did not run"), "{out}");
}

#[tokio::test]
async fn run_that_cannot_release_says_the_lock_may_still_be_held_until_its_ttl() {
    let fake = FakeBaton::start().await;
    fake.fault(Method::DELETE, "/locks/qa", Fault::OutcomeUnknown, u32::MAX);
    let args = ["run", "--env", "qa", "--", "echo", "ran"];
    let out = finish(baton_ci(&fake.url, API_TOKEN, &args)).await;
    assert_eq!(out.code, Some(0), "the command's status: {out}");
    assert_eq!(out.stdout, "ran\n", "{out}");
    assert!(
        out.stderr
            .contains("the lock on qa may still be held until its TTL runs out"),
        "{out}"
    );
    assert!(out.stderr.contains("the outcome is unknown"), "{out}");
    assert!(
        fake.calls_to(Method::DELETE, "/locks/qa").len() >= 2,
        "{out}"
    );
}
