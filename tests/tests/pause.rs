//! Paused queues: no job starts, nothing is lost, no message goes round,
//! and every job runs after the resume.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::worker::{Delivery, Outcome, PAUSE_CHECK, PAUSED_TRUST};
use hangar::{Error, JobId, NewJob, OffsetClock, Registry, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::json;

/// A registry whose `p.run` handler records the `n` of each run, in order.
fn recording() -> (Registry, Arc<Mutex<Vec<u64>>>) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = ran.clone();
    let registry = Registry::new().raw("p.run", move |args, _| {
        let r = r.clone();
        async move {
            r.lock().unwrap().push(args["n"].as_u64().unwrap());
            Ok(())
        }
    });
    (registry, ran)
}

async fn enqueue(env: &TestEnv, n: u64) -> JobId {
    env.client
        .enqueue(NewJob::new("p.run", json!({ "n": n })))
        .await
        .unwrap()
}

/// Receives the wake-up of job `id` and hands it to `worker`, as the
/// poller does, then deletes it.
async fn handle_wake_up(env: &TestEnv, worker: &hangar::Worker, id: &JobId) -> Outcome {
    let received = env
        .client
        .queues()
        .receive("default", Duration::from_secs(1))
        .await
        .unwrap();
    let m = received
        .iter()
        .find(|m| m.body.contains(id.as_str()))
        .expect("the job's wake-up");
    let d = Delivery {
        message_id: m.message_id.clone(),
        body: m.body.clone(),
        queue: "default".into(),
        attributes: m.attributes.clone(),
    };
    let outcome = worker.handle(&d, None).await;
    env.client
        .queues()
        .delete("default", std::slice::from_ref(&m.receipt_handle))
        .await
        .unwrap();
    outcome
}

/// Polls until a receive comes back empty; returns the messages handled.
async fn drain(poller: &hangar::worker::Poller) -> usize {
    let mut seen = 0;
    loop {
        let n = poller.poll_once().await.unwrap();
        if n == 0 {
            return seen;
        }
        seen += n;
    }
}

#[tokio::test]
async fn a_paused_queue_parks_its_jobs_and_runs_them_after_the_resume() {
    let env = TestEnv::new().await;
    let (registry, ran) = recording();
    let poller = env.poller(registry);

    let control = env.client.pause_queue("default").await.unwrap();
    assert!(control.paused && control.paused_at.is_some());
    // Enqueuing still works while paused.
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(&env, n).await);
        assert_eq!(drain(&poller).await, 1);
    }
    assert!(ran.lock().unwrap().is_empty(), "nothing runs while paused");
    for id in &ids {
        let job = env.job(id).await;
        assert_eq!(job.state, State::Enqueued);
        assert!(job.parked_at.is_some(), "{job:?}");
        assert_eq!(job.attempt, 0);
    }
    // Kept in DynamoDB, listed and counted as Enqueued; nothing left in SQS
    // and nothing goes round: the next receives find no message.
    let page = env.client.list(State::Enqueued, None, 50).await.unwrap();
    assert_eq!(page.len(), 5, "{page:?}");
    let counts = env.client.counts().await.unwrap();
    assert_eq!(
        counts
            .iter()
            .find(|(s, _)| *s == State::Enqueued)
            .unwrap()
            .1
            .n,
        5
    );
    assert_eq!(env.queue_depth("default").await, (0, 0, 0));
    env.calls.reset();
    assert_eq!(poller.poll_once().await.unwrap(), 0);
    assert_eq!(env.calls.count("UpdateItem"), 0, "{:?}", env.calls.counts());

    let (control, woken) = env.client.resume_queue("default").await.unwrap();
    assert!(!control.paused && control.draining);
    assert_eq!(woken, 5);
    // A new worker sees the resume at once (the old one within PAUSE_CHECK).
    let (registry, ran) = recording();
    let poller = env.poller(registry);
    drain(&poller).await;
    for id in &ids {
        let job = env.job(id).await;
        assert_eq!(job.state, State::Succeeded, "{job:?}");
        assert!(job.parked_at.is_none());
    }
    let mut runs = ran.lock().unwrap().clone();
    runs.sort();
    assert_eq!(runs, vec![0, 1, 2, 3, 4], "each job ran once");
}

/// A worker trusts what it read of a queue's control for PAUSE_CHECK: after
/// that, it sees a pause, and after a resume it runs jobs again.
#[tokio::test]
async fn a_running_worker_sees_a_pause_within_the_check_interval() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let (registry, ran) = recording();
    let poller = env.poller(registry);
    let first = enqueue(&env, 1).await;
    drain(&poller).await;
    assert_eq!(env.job(&first).await.state, State::Succeeded);

    env.client.pause_queue("default").await.unwrap();
    clock.advance(PAUSE_CHECK + Duration::from_secs(1));
    let second = enqueue(&env, 2).await;
    drain(&poller).await;
    let job = env.job(&second).await;
    assert_eq!(
        (job.state, job.parked_at.is_some()),
        (State::Enqueued, true)
    );
    assert_eq!(*ran.lock().unwrap(), vec![1]);

    env.client.resume_queue("default").await.unwrap();
    clock.advance(PAUSE_CHECK + Duration::from_secs(1));
    drain(&poller).await;
    assert_eq!(env.job(&second).await.state, State::Succeeded);
    assert_eq!(*ran.lock().unwrap(), vec![1, 2]);
}

/// A worker that read "paused" just before a resume can park a job after
/// the resume woke the others; the timer wakes it, and ends the draining
/// once the quiet period has passed.
#[tokio::test]
async fn the_timer_wakes_a_job_parked_after_the_resume() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let (registry, _) = recording();
    let stale = env.worker(registry);
    env.client.pause_queue("default").await.unwrap();
    // The stale worker reads the pause now...
    let early = enqueue(&env, 0).await;
    assert!(matches!(
        handle_wake_up(&env, &stale, &early).await,
        Outcome::Parked
    ));
    let (_, woken) = env.client.resume_queue("default").await.unwrap();
    assert_eq!(woken, 1);
    assert_eq!(env.job(&early).await.parked_at, None);

    // ...and, still trusting it, parks a job after the resume.
    let late = enqueue(&env, 1).await;
    assert!(matches!(
        handle_wake_up(&env, &stale, &late).await,
        Outcome::Parked
    ));
    assert!(env.job(&late).await.parked_at.is_some());

    let r = timer.tick(Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.unparked, 1, "{r:?}");
    assert_eq!(env.job(&late).await.parked_at, None);
    let (registry, ran) = recording();
    drain(&env.poller(registry)).await;
    assert_eq!(env.job(&late).await.state, State::Succeeded);
    assert!(ran.lock().unwrap().contains(&1));

    // Still draining within the quiet period; not after it.
    let controls = env
        .client
        .queue_controls(&["default".into()])
        .await
        .unwrap();
    assert!(controls[0].draining);
    clock.advance(hangar::timer::DRAIN_QUIET + Duration::from_secs(1));
    timer.tick(Duration::from_secs(20)).await.unwrap();
    let controls = env
        .client
        .queue_controls(&["default".into()])
        .await
        .unwrap();
    assert!(!controls[0].draining && !controls[0].paused);
}

/// A worker that read "paused" re-reads it before parking once
/// PAUSED_TRUST has passed: a warm worker (a Lambda environment kept
/// between invocations) that read the pause does not go on parking jobs
/// for PAUSE_CHECK after the resume, each left for the timer's next tick.
#[tokio::test]
async fn a_worker_that_read_a_pause_sees_the_resume_before_parking_again() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let (registry, ran) = recording();
    let warm = env.worker(registry);
    env.client.pause_queue("default").await.unwrap();
    let early = enqueue(&env, 0).await;
    assert!(matches!(
        handle_wake_up(&env, &warm, &early).await,
        Outcome::Parked
    ));
    env.client.resume_queue("default").await.unwrap();

    clock.advance(PAUSED_TRUST + Duration::from_millis(100));
    assert!(PAUSED_TRUST + Duration::from_millis(100) < PAUSE_CHECK);
    let late = enqueue(&env, 1).await;
    let outcome = handle_wake_up(&env, &warm, &late).await;
    assert!(!matches!(outcome, Outcome::Parked), "{outcome:?}");
    let job = env.job(&late).await;
    assert_eq!((job.state, job.parked_at), (State::Succeeded, None));
    assert_eq!(*ran.lock().unwrap(), vec![1]);
}

/// A parked job can be deleted; the resume does not wake it.
#[tokio::test]
async fn a_parked_job_can_be_deleted_and_stays_deleted() {
    let env = TestEnv::new().await;
    let (registry, ran) = recording();
    let poller = env.poller(registry);
    env.client.pause_queue("default").await.unwrap();
    let id = enqueue(&env, 7).await;
    drain(&poller).await;
    env.client.delete(&id).await.unwrap();
    let job = env.job(&id).await;
    assert_eq!((job.state, job.parked_at), (State::Deleted, None));
    let (_, woken) = env.client.resume_queue("default").await.unwrap();
    assert_eq!(woken, 0);
    drain(&poller).await;
    assert!(ran.lock().unwrap().is_empty());
}

#[tokio::test]
async fn pausing_a_queue_that_does_not_exist_is_refused() {
    let env = TestEnv::new().await;
    let err = env.client.pause_queue("nosuch").await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("no SQS queue named"), "{err}");
    let err = env.client.pause_queue("bad name!").await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

/// The messages of a batch, handled at once, share one read of their
/// queue's control.
#[tokio::test]
async fn a_batch_makes_one_read_of_the_queue_control() {
    let env = TestEnv::new().await;
    let (registry, ran) = recording();
    let poller = env.poller(registry);
    env.client
        .enqueue_many((0..10).map(|n| NewJob::new("p.run", json!({ "n": n }))))
        .await
        .unwrap();
    env.calls.reset();
    let mut seen = 0;
    while seen < 10 {
        seen += poller.poll_once().await.unwrap();
    }
    assert_eq!(ran.lock().unwrap().len(), 10);
    assert_eq!(
        env.calls.count("BatchGetItem"),
        1,
        "{:?}",
        env.calls.counts()
    );
}
