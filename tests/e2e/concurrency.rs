//! Exclusion under concurrency, proven by racing many clients rather than one happy path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use baton_commands::reply::ReplyData;
use baton_commands::BatonError;
use baton_commands::HoldKind;

use crate::support::{spawn_core_with, TestApp};

fn fence_of(reply: &baton_commands::Reply) -> u64 {
    match &reply.data {
        Some(ReplyData::Grant { hold, .. }) => hold.fence,
        other => panic!("a grant carries its hold, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_locks_on_prod_admit_exactly_one_and_tell_the_rest_who_holds_it() {
    let users: Vec<String> = (0..200).map(|i| format!("user{i}")).collect();
    let app = Arc::new(
        spawn_core_with(|c| {
            c.roles
                .deployer
                .extend(users.iter().map(|u| format!("console:{u}")))
        })
        .await,
    );
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let (app, u) = (app.clone(), u.clone());
            tokio::spawn(async move { (u.clone(), app.run(&u, "lock prod 20m release 7.1").await) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (u, Ok(_)) => winners.push(u),
            (_, Err((e, _))) => refusals.push(e),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one lock is granted: {winners:?}");
    assert_eq!(refusals.len(), 199);
    for e in &refusals {
        match e {
            BatonError::Held {
                env,
                kind: HoldKind::Lock,
                hold,
                ..
            } => {
                assert_eq!(env, "prod");
                assert_eq!(hold.display, winners[0], "the refusal names the holder");
                assert_eq!(hold.reason, "release 7.1", "and why they hold it");
                let text = e.to_string();
                assert!(text.contains("since") && text.contains("until"), "{text}");
            }
            other => panic!("expected a `held by` refusal, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_cycling_lock_and_unlock_never_overlap_and_fences_strictly_increase() {
    const TASKS: usize = 16;
    const CYCLES: usize = 1000;
    let app: Arc<TestApp> = Arc::new(spawn_core_with(|_| {}).await);
    let held = Arc::new(AtomicBool::new(false));
    let fences = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (app, held, fences) = (app.clone(), held.clone(), fences.clone());
            tokio::spawn(async move {
                let user = format!("worker{i}");
                let mut granted = 0;
                for _ in 0..CYCLES {
                    match app.run(&user, "lock canary 1m cycling").await {
                        Ok(reply) => {
                            // While we hold the lock nobody else may: the flag must be free.
                            assert!(
                                held.compare_exchange(
                                    false,
                                    true,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst
                                )
                                .is_ok(),
                                "two holders at once"
                            );
                            fences.lock().unwrap().push(fence_of(&reply));
                            tokio::task::yield_now().await;
                            held.store(false, Ordering::SeqCst);
                            app.ok(&user, "unlock canary").await;
                            granted += 1;
                        }
                        Err((BatonError::Held { .. }, _)) => tokio::task::yield_now().await,
                        Err((e, _)) => panic!("unexpected refusal: {e}"),
                    }
                }
                granted
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    let fences = fences.lock().unwrap();
    assert_eq!(fences.len(), granted);
    assert!(
        granted >= TASKS,
        "every task got the lock at least once ({granted} grants)"
    );
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences strictly increase in grant order"
    );
}
