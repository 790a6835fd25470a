//! Latency timeouts (`NewJob::start_within`): a job not started in time is
//! given up, Deleted with the reason, and its continuations settle.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{ContinueOn, NewJob, OffsetClock, Registry, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv, history};
use serde_json::json;

fn recording() -> (Registry, Arc<Mutex<Vec<String>>>) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = ran.clone();
    let registry = Registry::new().raw("l.run", move |args, _| {
        let r = r.clone();
        async move {
            r.lock()
                .unwrap()
                .push(args["name"].as_str().unwrap().to_owned());
            Ok(())
        }
    });
    (registry, ran)
}

fn job(name: &str) -> NewJob {
    NewJob::new("l.run", json!({ "name": name }))
}

async fn drain(env: &TestEnv, registry: Registry) {
    let poller = env.poller(registry);
    while poller.poll_once().await.unwrap() > 0 {}
}

#[tokio::test]
async fn a_job_not_started_in_time_is_deleted_and_its_continuations_settle() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let late = env
        .client
        .enqueue(job("late").start_within(Duration::from_secs(30)))
        .await
        .unwrap();
    let on_success = env
        .client
        .continue_with(&late, job("after-success"), ContinueOn::Succeeded)
        .await
        .unwrap();
    let on_any = env
        .client
        .continue_with(&late, job("after-any"), ContinueOn::AnyFinished)
        .await
        .unwrap();
    let in_time = env
        .client
        .enqueue(job("in-time").start_within(Duration::from_secs(600)))
        .await
        .unwrap();
    // A worker backlog of a minute.
    clock.advance(Duration::from_secs(60));
    let (registry, ran) = recording();
    drain(&env, registry).await;

    let j = env.job(&late).await;
    assert_eq!(j.state, State::Deleted, "{}", history(&j));
    let reason = j.history.last().unwrap().reason.clone().unwrap();
    assert!(
        reason.contains("Not started within 30s") && reason.contains("latency timeout"),
        "{reason}"
    );
    assert_eq!(
        j.history
            .last()
            .unwrap()
            .data
            .get("error_type")
            .map(String::as_str),
        Some("hangar::LatencyTimeout")
    );
    assert_eq!(env.job(&in_time).await.state, State::Succeeded);
    assert_eq!(env.job(&on_success).await.state, State::Deleted);
    assert_eq!(env.job(&on_any).await.state, State::Succeeded);
    let mut ran = ran.lock().unwrap().clone();
    ran.sort();
    assert_eq!(ran, vec!["after-any", "in-time"], "the late job never ran");
}

/// A delayed job's wait counts from its due time, not its creation: due an
/// hour after it was created and started a second after, it runs.
#[tokio::test]
async fn a_delayed_job_counts_from_its_due_time() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions {
        shards: Some(1),
        ..EnvOptions::clock(clock.clone())
    })
    .await;
    let timer = Timer::new(&env.client);
    let id = env
        .client
        .schedule(
            job("delayed").start_within(Duration::from_secs(60)),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let due = env.job(&id).await.run_at.unwrap();
    // To a second before it is due: the timer hands it off with a 1 s delay.
    clock.jump_to(due - chrono::Duration::seconds(1));
    let r = timer.tick(Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.handed_off.len(), 1, "{r:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (registry, ran) = recording();
    drain(&env, registry).await;
    let j = env.job(&id).await;
    assert_eq!(j.state, State::Succeeded, "{}", history(&j));
    assert_eq!(*ran.lock().unwrap(), vec!["delayed"]);
}

/// Only a first run is checked: a retry that waits longer than the latency
/// timeout still runs.
#[tokio::test]
async fn retries_are_not_given_up() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let tries = Arc::new(Mutex::new(0));
    let t = tries.clone();
    let registry = || {
        let t = t.clone();
        Registry::new().raw("l.flaky", move |_, _| {
            let t = t.clone();
            async move {
                let mut n = t.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    Err(hangar::JobFailure::msg("first try fails"))
                } else {
                    Ok(())
                }
            }
        })
    };
    let id = env
        .client
        .enqueue(
            NewJob::new("l.flaky", json!({}))
                .start_within(Duration::from_secs(5))
                .retry(hangar::RetryPolicy {
                    delays_secs: vec![1],
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    drain(&env, registry()).await;
    assert_eq!(env.job(&id).await.state, State::Scheduled);
    clock.advance(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    drain(&env, registry()).await;
    let j = env.job(&id).await;
    assert_eq!(
        (j.state, j.attempt),
        (State::Succeeded, 2),
        "{}",
        history(&j)
    );
}

/// Requests from other producers and the CLI carry the option.
#[tokio::test]
async fn intake_requests_carry_the_latency_timeout() {
    let env = TestEnv::new().await;
    env.send_raw(
        "default",
        r#"{"hangar_intake":1,"kind":"l.run","args":{"name":"x"},"idempotency_key":"lat-1","start_within_seconds":45}"#,
    )
    .await;
    let poller = env.poller(recording().0);
    poller.poll_once().await.unwrap();
    let j = env.job(&hangar::JobId::parse("idem-lat-1").unwrap()).await;
    assert_eq!(j.options.start_within, Some(Duration::from_secs(45)));

    let bad = hangar::intake::parse_message(
        r#"{"hangar_intake":1,"kind":"l.run","start_within_seconds":"soon"}"#,
        None,
    );
    let hangar::intake::Message::Invalid(why) = bad else {
        panic!("{bad:?}")
    };
    assert!(
        why.contains("start_within_seconds must be a whole number of seconds"),
        "{why}"
    );
}
