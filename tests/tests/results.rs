//! Results: what a handler returns is kept with the job by its finishing
//! write, read by the client, by a continuation from its parent and by a
//! batch's continuation from the batch's jobs; one too large fails the run
//! with a clear error.

use hangar::{Batch, ContinueOn, Error, Job, JobContext, JobFailure, NewJob, Registry, State};
use hangar_integration_tests::TestEnv;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::SHORT;

#[derive(Debug, Serialize, Deserialize)]
struct Add {
    a: u64,
    b: u64,
}

impl Job for Add {
    const KIND: &'static str = "add";
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sum {
    sum: u64,
}

/// `add` returns the sum; `plus-one` adds one to its parent's sum;
/// `total` sums the sums of its batch's jobs; `huge` returns more than a
/// job may keep; `nothing` returns no value.
fn registry() -> Registry {
    Registry::new()
        .job_with_result(|job: Add, _ctx: JobContext| async move {
            Ok::<_, JobFailure>(Sum { sum: job.a + job.b })
        })
        .raw_with_result("plus-one", |_, ctx: JobContext| async move {
            let parent: Sum = ctx
                .parent_result()
                .await
                .map_err(JobFailure::from)?
                .ok_or_else(|| JobFailure::msg("the parent kept no result"))?;
            Ok(Sum {
                sum: parent.sum + 1,
            })
        })
        .raw_with_result("total", |_, ctx: JobContext| async move {
            let results = ctx
                .batch_results::<Sum>(1, 100)
                .await
                .map_err(JobFailure::from)?;
            Ok(Sum {
                sum: results
                    .iter()
                    .filter_map(|(_, r)| r.as_ref())
                    .map(|s| s.sum)
                    .sum(),
            })
        })
        .raw_with_result("huge", |_, _| async {
            Ok::<_, JobFailure>("x".repeat(hangar::job::MAX_RESULT_BYTES))
        })
        .raw("nothing", |_, _| async { Ok(()) })
}

/// The sum comes back through `Client::result`, in the job's JSON and on
/// the CLI's and API's shared record; before the run there is none, a job
/// without one has none, and a job that does not exist is an error.
#[tokio::test]
async fn a_handler_s_result_is_kept_with_its_success() {
    let env = TestEnv::new().await;
    let poller = env.poller(registry());
    let id = env.client.enqueue(&Add { a: 2, b: 3 }).await.unwrap();
    assert_eq!(env.client.result::<Sum>(&id).await.unwrap(), None);
    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(
        env.client.result::<Sum>(&id).await.unwrap(),
        Some(Sum { sum: 5 })
    );
    let job = env.job(&id).await;
    let shown = serde_json::to_value(hangar::json::JobJson::from(&job)).unwrap();
    assert_eq!(shown["result"], json!({"sum": 5}), "{shown}");
    // Asked for as another type: a clear error, naming the job.
    let err = env.client.result::<String>(&id).await.unwrap_err();
    assert!(err.to_string().contains(id.as_str()), "{err}");

    let none = env
        .client
        .enqueue(NewJob::new("nothing", json!({})))
        .await
        .unwrap();
    env.drive_to(&poller, &none, State::Succeeded, SHORT).await;
    assert_eq!(env.client.result::<Sum>(&none).await.unwrap(), None);
    let shown = serde_json::to_value(hangar::json::JobJson::from(&env.job(&none).await)).unwrap();
    assert!(shown.get("result").is_none(), "{shown}");

    let missing = hangar::JobId::parse("no-such-job").unwrap();
    assert!(matches!(
        env.client.result::<Sum>(&missing).await,
        Err(Error::NotFound { .. })
    ));
}

/// A continuation reads what its parent returned.
#[tokio::test]
async fn a_continuation_reads_its_parent_s_result() {
    let env = TestEnv::new().await;
    let poller = env.poller(registry());
    let parent = env.client.enqueue(&Add { a: 40, b: 1 }).await.unwrap();
    let child = env
        .client
        .continue_with(
            &parent,
            NewJob::new("plus-one", json!({})),
            ContinueOn::Succeeded,
        )
        .await
        .unwrap();
    env.drive_to(&poller, &child, State::Succeeded, SHORT).await;
    assert_eq!(
        env.client.result::<Sum>(&child).await.unwrap(),
        Some(Sum { sum: 42 })
    );

    // A job that is no continuation has no parent to read: its run fails
    // with the reason.
    let orphan = env
        .client
        .enqueue(NewJob::new("plus-one", json!({})).retries(0))
        .await
        .unwrap();
    let failed = env.drive_to(&poller, &orphan, State::Failed, SHORT).await;
    let error = failed.last_error.unwrap_or_default();
    assert!(error.contains("is not a continuation of a job"), "{error}");
}

/// A batch's continuation reads the results of the batch's jobs.
#[tokio::test]
async fn a_batch_continuation_reads_its_jobs_results() {
    let env = TestEnv::new().await;
    let poller = env.poller(registry());
    let mut batch = Batch::new();
    for n in 1..=3 {
        batch = batch.enqueue(&Add { a: n, b: 10 * n }).unwrap();
    }
    let batch = batch
        .continue_with(NewJob::new("total", json!({})), ContinueOn::Succeeded)
        .unwrap();
    let id = env.client.start_batch(batch).await.unwrap();
    let record = env.client.batch(&id).await.unwrap().unwrap();
    let continuation = record.continuations[0].id.clone();
    env.drive_to(&poller, &continuation, State::Succeeded, SHORT)
        .await;
    // 11 + 22 + 33
    assert_eq!(
        env.client.result::<Sum>(&continuation).await.unwrap(),
        Some(Sum { sum: 66 })
    );
}

/// A result larger than a job may keep fails the run at once (no retry),
/// saying how large it was and what to do instead.
#[tokio::test]
async fn a_result_too_large_fails_the_run_with_a_clear_error() {
    let env = TestEnv::new().await;
    let poller = env.poller(registry());
    let id = env
        .client
        .enqueue(NewJob::new("huge", json!({})))
        .await
        .unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(job.attempt, 1, "not retried");
    assert_eq!(job.result, None);
    let error = job.last_error.unwrap_or_default();
    assert!(
        error.contains("8194 bytes of JSON") && error.contains("at most 8192"),
        "{error}"
    );
}
