//! Ids chosen by the caller: an intake idempotency key, `NewJob::id`,
//! `NewJob::idempotency_key`, a batch id. While the job is kept, the id
//! names that job (one job however often it is asked for); once its
//! retention is over, the id is free and a new request makes a new job,
//! although DynamoDB's TTL sweep has not removed the old item yet.

use std::time::Duration;

use hangar::{Batch, ContinueOn, Error, JobId, NewJob, State};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::json;

use crate::intake::{body, poller, request, run_until, send};
use crate::support::{Runs, SHORT, registry};

/// Final jobs are kept this long.
const RETENTION: Duration = Duration::from_secs(2);

async fn short_retention() -> TestEnv {
    TestEnv::with(EnvOptions {
        retention: RETENTION,
        ..Default::default()
    })
    .await
}

/// Waits until the job has expired (its `ttl`, whole seconds, has passed);
/// the item is still in the table, as DynamoDB's sweep takes days.
async fn until_expired(env: &TestEnv, id: &JobId) {
    let start = std::time::Instant::now();
    while env.client.get(id).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{id} never expired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        env.item_count().await > 0,
        "the expired item is still stored"
    );
}

/// Polls until the queue holds no message.
async fn drain(env: &TestEnv, poller: &hangar::Poller) {
    let start = std::time::Instant::now();
    while env.queue_depth("default").await != (0, 0, 0) {
        assert!(start.elapsed() < SHORT, "the queue never emptied");
        poller.poll_once().await.unwrap();
    }
}

/// An intake key used again while its job is kept is the same job; used
/// again after the job expired, it makes a new job, which runs.
#[tokio::test]
async fn an_intake_key_is_free_again_once_its_job_expired() {
    let env = short_retention().await;
    let poller = poller(&env);
    let id = JobId::parse("idem-again").unwrap();
    send(&env, &[body(request("again", "first"))], false);
    let first = run_until(&env, &poller, std::slice::from_ref(&id), |j| {
        j.state == State::Succeeded
    })
    .await;
    assert_eq!(first[0].args["name"], "first");

    send(&env, &[body(request("again", "second"))], false);
    drain(&env, &poller).await;
    let job = env.job(&id).await;
    assert_eq!(
        (job.args["name"].as_str(), job.attempt),
        (Some("first"), 1),
        "a key used again while its job is kept makes no new job"
    );

    until_expired(&env, &id).await;
    send(&env, &[body(request("again", "third"))], false);
    let third = run_until(&env, &poller, std::slice::from_ref(&id), |j| {
        j.state == State::Succeeded
    })
    .await;
    assert_eq!(third[0].args["name"], "third", "a new job ran");
    assert_eq!(third[0].attempt, 1);
    assert_eq!(third[0].history.len(), 3, "{:?}", third[0].history);
}

/// `NewJob::id`: refused while the job is kept, a new job once it expired.
#[tokio::test]
async fn an_own_id_is_free_again_once_its_job_expired() {
    let env = short_retention().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = JobId::parse("report-2026-12").unwrap();
    let job = |n: u32| NewJob::new("ok", json!({ "n": n })).id(id.clone());
    env.client.enqueue(job(1)).await.unwrap();
    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    match env.client.enqueue(job(2)).await {
        Err(Error::AlreadyExists { id: taken }) => assert_eq!(taken, id),
        other => panic!("a kept job's id is taken: {other:?}"),
    }
    until_expired(&env, &id).await;
    assert_eq!(env.client.enqueue(job(3)).await.unwrap(), id);
    let again = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(again.args["n"], 3);
    assert_eq!(again.history.len(), 3, "only the new job's history");
}

/// `NewJob::idempotency_key`: a second creation, of any kind, returns the
/// job already there and writes and sends nothing; the key names the same
/// job as an intake request's; once the job expired, the key makes a new
/// one.
#[tokio::test]
async fn an_idempotent_creation_returns_the_job_already_there() {
    let env = short_retention().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let keyed = |n: u32| {
        NewJob::new("ok", json!({ "n": n }))
            .idempotency_key("order-42")
            .unwrap()
    };
    let id = env.client.enqueue(keyed(1)).await.unwrap();
    assert_eq!(id.as_str(), "idem-order-42");
    env.calls.reset();
    assert_eq!(env.client.enqueue(keyed(2)).await.unwrap(), id);
    assert_eq!(
        env.client
            .schedule(keyed(3), Duration::from_secs(60))
            .await
            .unwrap(),
        id
    );
    let parent = env
        .client
        .enqueue(NewJob::new("ok", json!({ "n": 0 })))
        .await
        .unwrap();
    env.calls.reset();
    assert_eq!(
        env.client
            .continue_with(&parent, keyed(4), ContinueOn::Succeeded)
            .await
            .unwrap(),
        id
    );
    assert_eq!(env.calls.count("SendMessage"), 0, "nothing sent");
    // An intake request with the same key is the same job.
    send(&env, &[body(request("order-42", "intake"))], false);
    drain(&env, &poller).await;
    let job = env.job(&id).await;
    assert_eq!(
        (job.args["n"].as_u64(), job.state),
        (Some(1), State::Succeeded)
    );
    assert_eq!(
        Runs::get(&runs.ok),
        2,
        "the job and the parent ran, nothing else"
    );

    // An ordered duplicate takes no number of its key.
    let ordered = || {
        NewJob::new("ok", json!({ "n": 7 }))
            .ordered("acct-7")
            .idempotency_key("ordered-1")
            .unwrap()
    };
    let o = env.client.enqueue(ordered()).await.unwrap();
    env.calls.reset();
    assert_eq!(env.client.enqueue(ordered()).await.unwrap(), o);
    assert_eq!(env.calls.count("UpdateItem"), 0, "no number taken");

    until_expired(&env, &id).await;
    assert_eq!(env.client.enqueue(keyed(5)).await.unwrap(), id);
    let fresh = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(fresh.args["n"], 5);
}

/// Ids that `enqueue_many` would write without a condition are refused
/// with a clear error instead of being dropped for a generated id.
#[tokio::test]
async fn enqueue_many_refuses_jobs_with_their_own_id() {
    let env = TestEnv::new().await;
    let err = env
        .client
        .enqueue_many([NewJob::new("ok", json!({})).id(JobId::parse("mine").unwrap())])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mine"), "{err}");
    assert_eq!(env.item_count().await, 0, "nothing written");
}

/// A batch id (and so its jobs' and continuations' ids) is free again once
/// the batch and its jobs expired.
#[tokio::test]
async fn a_batch_id_is_free_again_once_the_batch_expired() {
    let env = short_retention().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = JobId::parse("nightly-export").unwrap();
    let batch = |n: u32| {
        Batch::new()
            .id(id.clone())
            .enqueue(NewJob::new("ok", json!({ "n": n })))
            .unwrap()
            .continue_with(
                NewJob::new("ok", json!({ "n": 100 + n })),
                ContinueOn::Succeeded,
            )
            .unwrap()
    };
    env.client.start_batch(batch(1)).await.unwrap();
    let then = JobId::parse("nightly-export.then1").unwrap();
    env.drive_to(&poller, &then, State::Succeeded, SHORT).await;
    match env.client.start_batch(batch(2)).await {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("a kept batch's id is taken: {other:?}"),
    }
    until_expired(&env, &then).await;
    let start = std::time::Instant::now();
    while env.client.batch(&id).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the batch never expired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.client.start_batch(batch(3)).await.unwrap();
    let job = env
        .drive_to(
            &poller,
            &JobId::parse("nightly-export.1").unwrap(),
            State::Succeeded,
            SHORT,
        )
        .await;
    assert_eq!(job.args["n"], 3);
    let cont = env.drive_to(&poller, &then, State::Succeeded, SHORT).await;
    assert_eq!(cont.args["n"], 103);
}
