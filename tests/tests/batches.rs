//! Batches: jobs created together, counted on their batch in the same
//! transaction as each job's own write, with continuations released once
//! the last job finishes.

use std::time::Duration;

use chrono::Utc;
use hangar::{Batch, BatchStatus, ContinueOn, Error, JobId, NewJob, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv, history};

use crate::support::{Flaky, Ok1, Runs, SHORT, registry};

const BUDGET: Duration = Duration::from_secs(50);

fn oks(n: u32) -> Batch {
    (1..=n).fold(Batch::new().description("five oks"), |b, i| {
        b.enqueue(&Ok1 { n: i }).unwrap()
    })
}

/// A batch's jobs run, each counted on the batch; the last one completes
/// it, and both of its continuations run. A continuation added after the
/// batch completed settles at once.
#[tokio::test]
async fn batch_completes_and_releases_its_continuations() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let batch = oks(5)
        .continue_with(&Ok1 { n: 100 }, ContinueOn::Succeeded)
        .unwrap()
        .continue_with(&Ok1 { n: 200 }, ContinueOn::AnyFinished)
        .unwrap();
    let id = env.client.start_batch(batch).await.unwrap();
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!(b.status, BatchStatus::Started);
    assert_eq!((b.total, b.open, b.pending()), (5, 5, 5));
    assert_eq!(b.description.as_deref(), Some("five oks"));
    assert_eq!(b.continuations.len(), 2);
    let first = env.job(&b.job_id(1)).await;
    assert_eq!(first.batch.as_ref(), Some(&id));
    assert_eq!(first.state, State::Enqueued);
    let then = &b.continuations[0].id;
    assert_eq!(env.job(then).await.state, State::Awaiting);

    let any = b.continuations[1].id.clone();
    env.drive_to(&poller, then, State::Succeeded, SHORT).await;
    env.drive_to(&poller, &any, State::Succeeded, SHORT).await;
    let done = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!(done.status, BatchStatus::Completed);
    assert_eq!(
        (done.open, done.succeeded, done.failed, done.deleted),
        (0, 5, 0, 0)
    );
    assert_eq!(done.all_succeeded, Some(true));
    assert!(done.released, "taken off the timer's watch");
    assert!(done.completed_at.is_some() && done.expires_at.is_some());
    assert_eq!(Runs::get(&runs.ok), 7);
    let ran = env.job(then).await;
    let reason = ran.history[1].reason.clone().unwrap();
    assert_eq!(
        reason,
        format!("Batch {id} completed: every job of 5 Succeeded")
    );

    let jobs = env.client.batch_jobs(&done, 1, 100).await.unwrap();
    assert_eq!(jobs.len(), 5);
    assert!(jobs.iter().all(|j| j.state == State::Succeeded));

    let late = env
        .client
        .continue_batch_with(&id, &Ok1 { n: 300 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    let late = env.job(&late).await;
    assert_eq!(late.state, State::Enqueued, "{}", history(&late));
    assert!(late.parent.as_ref().unwrap().batch);

    let listed = env.client.batches(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
}

/// Failed is not final: the batch waits while a job is Failed (counted as
/// failed). A requeue and a second failure count again; deleting it
/// completes the batch, not all Succeeded: the Succeeded continuation is
/// Deleted with the reason, the AnyFinished one runs. Every record a
/// counted write returns is the job as stored.
#[tokio::test]
async fn a_failed_job_holds_the_batch_until_it_is_deleted() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let batch = Batch::new()
        .enqueue(&Ok1 { n: 1 })
        .unwrap()
        .enqueue(NewJob::of(&Flaky { fail_times: 9 }).unwrap().retries(0))
        .unwrap()
        .enqueue(&Ok1 { n: 2 })
        .unwrap()
        .continue_with(&Ok1 { n: 100 }, ContinueOn::Succeeded)
        .unwrap()
        .continue_with(&Ok1 { n: 200 }, ContinueOn::AnyFinished)
        .unwrap();
    let id = env.client.start_batch(batch).await.unwrap();
    let b = env.client.batch(&id).await.unwrap().unwrap();
    let flaky = b.job_id(2);
    env.drive_to(&poller, &flaky, State::Failed, SHORT).await;
    for n in [1, 3] {
        env.drive_to(&poller, &b.job_id(n), State::Succeeded, SHORT)
            .await;
    }
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!(b.status, BatchStatus::Started);
    assert_eq!(
        (b.open, b.pending(), b.succeeded, b.failed, b.deleted),
        (1, 0, 2, 1, 0)
    );

    let requeued = env.client.requeue(&flaky).await.unwrap();
    assert_eq!(
        requeued,
        env.job(&flaky).await,
        "requeue's record is the stored one"
    );
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!((b.open, b.pending(), b.failed), (1, 1, 0));
    env.drive_to(&poller, &flaky, State::Failed, SHORT).await;
    assert_eq!(env.client.batch(&id).await.unwrap().unwrap().failed, 1);
    let (on_success, on_any) = (&b.continuations[0].id, &b.continuations[1].id);
    assert_eq!(env.job(on_success).await.state, State::Awaiting);

    let deleted = env.client.delete(&flaky).await.unwrap();
    assert_eq!(
        deleted,
        env.job(&flaky).await,
        "delete's record is the stored one"
    );
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!(b.status, BatchStatus::Completed);
    assert_eq!((b.open, b.succeeded, b.failed, b.deleted), (0, 2, 0, 1));
    assert_eq!(b.all_succeeded, Some(false));
    let skipped = env.job(on_success).await;
    assert_eq!(skipped.state, State::Deleted, "{}", history(&skipped));
    assert!(
        skipped
            .last_entry()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains("runs only when every job Succeeded")
    );
    env.drive_to(&poller, on_any, State::Succeeded, SHORT).await;

    // A job requeued after its batch completed counts again, but the
    // batch does not complete twice.
    env.client.requeue(&b.job_id(1)).await.unwrap();
    let reopened = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!((reopened.open, reopened.succeeded), (1, 1));
    env.drive_to(&poller, &b.job_id(1), State::Succeeded, SHORT)
        .await;
    let again = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!((again.open, again.succeeded), (0, 2));
    assert_eq!(again.completed_at, b.completed_at);
    assert_eq!(
        Runs::get(&runs.ok),
        4,
        "two jobs, one continuation, one rerun"
    );
}

/// Two pollers finish a batch's jobs at once: the counters end exact and
/// the continuation runs once.
#[tokio::test]
async fn jobs_finishing_together_complete_the_batch_once() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let (p1, p2) = (env.poller(registry(&runs)), env.poller(registry(&runs)));
    let id = env
        .client
        .start_batch(
            oks(20)
                .continue_with(&Ok1 { n: 100 }, ContinueOn::Succeeded)
                .unwrap(),
        )
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let b = env.client.batch(&id).await.unwrap().unwrap();
        if b.status == BatchStatus::Completed && b.released {
            break;
        }
        if start.elapsed() > SHORT * 2 {
            let jobs = env.client.batch_jobs(&b, 1, 100).await.unwrap();
            let open: Vec<String> = jobs
                .iter()
                .filter(|j| j.state != State::Succeeded)
                .map(history)
                .collect();
            panic!("batch not completed: {b:?}\n{open:#?}");
        }
        let (a, b) = tokio::join!(p1.poll_once(), p2.poll_once());
        a.unwrap();
        b.unwrap();
    }
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!((b.open, b.succeeded), (0, 20));
    let then = &b.continuations[0].id;
    env.drive_to(&p1, then, State::Succeeded, SHORT).await;
    assert_eq!(Runs::get(&runs.ok), 21);
}

/// The writer of the last job stopped before releasing the batch's
/// continuations (here: its read of the batch fails): the timer releases
/// them a grace period later.
#[tokio::test]
async fn the_timer_releases_a_completed_batch_whose_writer_stopped() {
    let clock = hangar::ManualClock::new(Utc::now());
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let timer = Timer::new(&env.client);
    let id = env
        .client
        .start_batch(
            oks(1)
                .continue_with(&Ok1 { n: 100 }, ContinueOn::Succeeded)
                .unwrap(),
        )
        .await
        .unwrap();
    env.faults.fail("GetItem", &format!("batch#{id}"));
    env.drive_to(
        &poller,
        &JobId::parse(format!("{id}.1")).unwrap(),
        State::Succeeded,
        SHORT,
    )
    .await;
    env.faults.clear();
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!(b.status, BatchStatus::Completed);
    assert!(!b.released);
    let then = b.continuations[0].id.clone();
    assert_eq!(env.job(&then).await.state, State::Awaiting);

    let r = timer.tick(BUDGET).await.unwrap();
    assert_eq!(r.batches_released, 0, "not before the grace period");
    clock.advance(env.config.grace + Duration::from_secs(1));
    let r = timer.tick(BUDGET).await.unwrap();
    assert_eq!(r.batches_released, 1);
    assert!(env.client.batch(&id).await.unwrap().unwrap().released);
    env.drive_to(&poller, &then, State::Succeeded, SHORT).await;
    let r = timer.tick(BUDGET).await.unwrap();
    assert_eq!(r.batches_released, 0, "released once");
}

/// A creation cut short (a write of its second chunk fails) is resumed by
/// a creation with the same id, which writes only the missing jobs; one
/// not resumed is started by the timer, a grace period later, with the
/// jobs written.
#[tokio::test]
async fn a_creation_cut_short_is_resumed_or_started_with_what_was_written() {
    let clock = hangar::ManualClock::new(Utc::now());
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let batch = |id: &JobId| {
        (1..=150).fold(Batch::new().id(id.clone()), |b, i| {
            b.enqueue(&Ok1 { n: i }).unwrap()
        })
    };

    let resumed = JobId::generate();
    env.faults
        .fail("BatchWriteItem", &format!("job#{resumed}.101\""));
    let err = env.client.start_batch(batch(&resumed)).await.unwrap_err();
    assert!(matches!(err, Error::Aws { .. }), "{err}");
    let b = env.client.batch(&resumed).await.unwrap().unwrap();
    assert_eq!(b.status, BatchStatus::Creating);
    env.faults.clear();
    env.calls.reset();
    env.client.start_batch(batch(&resumed)).await.unwrap();
    // Jobs 101 to 150, two at a time.
    assert_eq!(env.calls.count("BatchWriteItem"), 2);
    let b = env.client.batch(&resumed).await.unwrap().unwrap();
    assert_eq!(
        (b.status, b.total, b.open),
        (BatchStatus::Started, 150, 150)
    );
    assert!(env.client.get(&b.job_id(150)).await.unwrap().is_some());
    let err = env.client.start_batch(batch(&resumed)).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");

    let cut = JobId::generate();
    env.faults
        .fail("BatchWriteItem", &format!("job#{cut}.101\""));
    env.client.start_batch(batch(&cut)).await.unwrap_err();
    env.faults.clear();
    let r = timer.tick(BUDGET).await.unwrap();
    assert_eq!(r.batches_cut_short, 0, "not before the grace period");
    clock.advance(env.config.grace + Duration::from_secs(1));
    let r = timer.tick(BUDGET).await.unwrap();
    assert_eq!(r.batches_cut_short, 1);
    let b = env.client.batch(&cut).await.unwrap().unwrap();
    assert_eq!(
        (b.status, b.total, b.open),
        (BatchStatus::Started, 100, 100)
    );
    // The jobs written were never sent; the same tick re-sent them as it
    // does any Enqueued job past the grace period.
    assert!(r.resent.contains(&b.job_id(1)), "{:?}", r.resent.len());
    let err = env.client.start_batch(batch(&cut)).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}
