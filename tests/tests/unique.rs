//! Unique and debounced jobs: one pending job per key, from the Rust
//! client and from intake requests; a key whose holder is gone is taken
//! over, so a crash leaks nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::UniqueUntil;
use hangar::{NewJob, OffsetClock, Registry, State};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use crate::support::SHORT;

/// A registry whose `u.job` records the arguments of every run.
fn recording() -> (Registry, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let registry = Registry::new().raw("u.job", move |args, _| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(args);
            Ok(())
        }
    });
    (registry, seen)
}

/// While the first job waits, creations with its key return its id and
/// write no job; `until started` lets a job be created once it runs, and
/// `until finished` only once it has ended.
#[tokio::test]
async fn a_unique_key_is_held_while_its_job_waits_or_until_it_finishes() {
    let env = TestEnv::new().await;
    let started = Arc::new(Notify::new());
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let (s, r) = (started.clone(), release_rx.clone());
    let registry = Registry::new().raw("u.job", move |_, _| {
        let (s, r) = (s.clone(), r.clone());
        async move {
            s.notify_one();
            if let Some(rx) = r.lock().await.take() {
                let _ = rx.await;
            }
            Ok(())
        }
    });
    let poller = env.poller(registry);
    let job = |n: u32, until| NewJob::new("u.job", json!({ "n": n })).unique("report:7", until);

    let first = env
        .client
        .enqueue(job(1, UniqueUntil::Finished))
        .await
        .unwrap();
    let again = env
        .client
        .enqueue(job(2, UniqueUntil::Finished))
        .await
        .unwrap();
    let later = env
        .client
        .schedule(job(3, UniqueUntil::Finished), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!((&again, &later), (&first, &first));
    let held = env.job(&first).await;
    assert_eq!(
        held.args,
        json!({ "n": 1 }),
        "the holder keeps its arguments"
    );
    assert_eq!(
        held.history[0].data.get("unique").map(String::as_str),
        Some("report:7")
    );
    assert_eq!(
        env.client
            .list(State::Enqueued, None, 50)
            .await
            .unwrap()
            .len(),
        1
    );

    // Running: held until it finishes, free for `until started`.
    let run = tokio::spawn(async move {
        poller.poll_once().await.unwrap();
        poller
    });
    started.notified().await;
    assert_eq!(env.job(&first).await.state, State::Processing);
    let during = env
        .client
        .enqueue(job(4, UniqueUntil::Finished))
        .await
        .unwrap();
    assert_eq!(during, first, "until finished: a running job holds its key");
    let other = env
        .client
        .enqueue(job(5, UniqueUntil::Started))
        .await
        .unwrap();
    assert_ne!(
        other, first,
        "until started: a running job holds its key no more"
    );
    release_tx.send(()).unwrap();
    let poller = run.await.unwrap();
    env.drive_to(&poller, &first, State::Succeeded, SHORT).await;

    // `other` holds the key now, waiting or not.
    let after = env
        .client
        .enqueue(job(6, UniqueUntil::Started))
        .await
        .unwrap();
    assert_eq!(after, other);
    env.drive_to(&poller, &other, State::Succeeded, SHORT).await;
    let next = env
        .client
        .enqueue(job(7, UniqueUntil::Started))
        .await
        .unwrap();
    assert!(next != first && next != other, "every holder has ended");
    assert_eq!(env.job(&next).await.args, json!({ "n": 7 }));
}

/// The key is written before the job: a creation cut short between the
/// two leaves the key naming a job that never appears. Within the grace
/// period a creation takes it for one under way; after it, the key is
/// taken over and the new job created.
#[tokio::test]
async fn a_key_whose_job_never_appeared_is_taken_over_after_the_grace_period() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let job = |n: u32| NewJob::new("u.job", json!({ "n": n })).unique("k1", UniqueUntil::Started);

    env.faults.fail("PutItem", "job#");
    let cut = env.client.enqueue(job(1)).await;
    assert!(cut.is_err(), "the job's write failed: {cut:?}");
    env.faults.clear();

    let within = env.client.enqueue(job(2)).await.unwrap();
    assert!(env.client.get(&within).await.unwrap().is_none());

    clock.advance(env.config.grace + Duration::from_secs(1));
    let taken = env.client.enqueue(job(3)).await.unwrap();
    assert_ne!(taken, within);
    assert_eq!(env.job(&taken).await.args, json!({ "n": 3 }));
    assert_eq!(env.client.enqueue(job(4)).await.unwrap(), taken);
}

/// A burst of creations with one debounce key makes one Scheduled job: the
/// latest arguments and parameters win, each creation pushes the start to
/// `wait` from then, never past `max_wait` after the first; it runs once,
/// with the last arguments. Once it has run, the key makes a new job.
#[tokio::test]
async fn a_debounced_burst_runs_once_with_the_latest_arguments() {
    let env = TestEnv::new().await;
    let (registry, seen) = recording();
    let poller = env.poller(registry);
    let job = |n: u32| {
        NewJob::new("u.job", json!({ "n": n }))
            .param("n", n.to_string())
            .debounce("sync:1", Duration::from_secs(1), Duration::from_secs(30))
    };
    let first = env.client.enqueue(job(1)).await.unwrap();
    let due1 = env.job(&first).await.run_at.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 2..=4 {
        assert_eq!(env.client.enqueue(job(n)).await.unwrap(), first);
    }
    let pushed = env.job(&first).await;
    assert_eq!(pushed.state, State::Scheduled);
    assert_eq!(pushed.args, json!({ "n": 4 }));
    assert_eq!(pushed.params.get("n").map(String::as_str), Some("4"));
    assert!(
        pushed.run_at.unwrap() >= due1 + chrono::Duration::milliseconds(300),
        "pushed back: {:?} after {due1}",
        pushed.run_at
    );
    let debounced = pushed
        .history
        .iter()
        .filter(|h| {
            h.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("Debounced"))
        })
        .count();
    assert_eq!(debounced, 3);

    env.drive_to(&poller, &first, State::Succeeded, SHORT).await;
    // Every wake-up sent for it has arrived by now; the older ones were stale.
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(*seen.lock().unwrap(), vec![json!({ "n": 4 })]);

    let next = env.client.enqueue(job(5)).await.unwrap();
    assert_ne!(
        next, first,
        "a job that has run holds its debounce key no more"
    );
}

/// However often a key is hit, the job starts no later than `max_wait`
/// after the first creation.
#[tokio::test]
async fn a_debounced_job_starts_no_later_than_its_max_wait() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let job = |n: u32| {
        NewJob::new("u.job", json!({ "n": n })).debounce(
            "sync:2",
            Duration::from_secs(60),
            Duration::from_secs(150),
        )
    };
    let first = env.client.enqueue(job(1)).await.unwrap();
    let created = env.job(&first).await.created_at;
    clock.advance(Duration::from_secs(50));
    env.client.enqueue(job(2)).await.unwrap();
    let at = env.job(&first).await.run_at.unwrap();
    assert_eq!((at - created).num_seconds(), 110);
    clock.advance(Duration::from_secs(50));
    assert_eq!(env.client.enqueue(job(3)).await.unwrap(), first);
    let at = env.job(&first).await.run_at.unwrap();
    assert_eq!((at - created).num_seconds(), 150, "capped at max_wait");
}

/// Intake requests take `unique` and `debounce` as the client does; a
/// debounced request that also sets its own time is refused, visibly.
#[tokio::test]
async fn intake_requests_can_be_unique_or_debounced() {
    let env = TestEnv::new().await;
    let (registry, seen) = recording();
    let poller = env.poller(registry);
    let unique = |n: u32| {
        json!({"hangar_intake": 1, "kind": "u.job", "args": {"n": n},
               "unique": {"key": "import:9", "until": "finished"}})
        .to_string()
    };
    let m1 = env.send_raw("default", &unique(1)).await;
    let m2 = env.send_raw("default", &unique(2)).await;
    let debounced = |n: u32| {
        json!({"hangar_intake": 1, "kind": "u.job", "args": {"d": n},
               "debounce": {"key": "d:9", "wait_seconds": 1, "max_wait_seconds": 20}})
        .to_string()
    };
    let d1 = env.send_raw("default", &debounced(1)).await;
    let d2 = env.send_raw("default", &debounced(2)).await;
    let bad = json!({"hangar_intake": 1, "kind": "u.job", "delay_seconds": 5,
                     "debounce": {"key": "d:9", "wait_seconds": 1, "max_wait_seconds": 20}});
    let refused = env.send_raw("default", &bad.to_string()).await;
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        poller.poll_once().await.unwrap();
        let runs = seen.lock().unwrap().len();
        if runs >= 2 || tokio::time::Instant::now() > deadline {
            break;
        }
    }
    while poller.poll_once().await.unwrap() > 0 {}
    let id = |m: &str| hangar::JobId::parse(format!("msg-{m}")).unwrap();
    // The intake's requests were read in either order: one of each pair
    // made the job, the other made none.
    let mut made = Vec::new();
    for m in [&m1, &m2, &d1, &d2] {
        made.push(env.client.get(&id(m)).await.unwrap().is_some());
    }
    assert_eq!(made.iter().filter(|m| **m).count(), 2, "{made:?}");
    let mut runs = seen.lock().unwrap().clone();
    runs.sort_by_key(Value::to_string);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().any(|a| a.get("d").is_some()), "{runs:?}");
    assert!(runs.iter().any(|a| a.get("n").is_some()), "{runs:?}");
    let failed = env.job(&id(&refused)).await;
    assert_eq!(failed.state, State::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("debounce"),
        "{:?}",
        failed.last_error
    );
}
