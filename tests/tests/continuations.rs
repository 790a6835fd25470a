//! Continuations: released when the parent reaches a final state.

use std::time::Duration;

use chrono::Utc;
use hangar::{
    Client, ContinueOn, Error, JobContext, JobId, ManualClock, NewJob, OnExhausted, Registry,
    RetryPolicy, State, Timer,
};
use hangar_integration_tests::{EnvOptions, TestEnv, history, states};

use crate::support::{Flaky, Ok1, Runs, SHORT, registry};

const BUDGET: Duration = Duration::from_secs(50);

/// A continuation waits in Awaiting and runs after its parent Succeeded.
#[tokio::test]
async fn continuation_runs_after_parent_succeeded() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let (parent, child) = parent_and_child(&env).await;
    let grandchild = env
        .client
        .continue_with(&child, &Ok1 { n: 3 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    assert_eq!(env.job(&child).await.state, State::Awaiting);
    assert_eq!(env.job(&parent).await.continuations.len(), 1);

    let done = env
        .drive_to(&poller, &grandchild, State::Succeeded, SHORT)
        .await;
    let child = env.job(&child).await;
    assert_eq!(
        states(&child),
        [
            State::Awaiting,
            State::Enqueued,
            State::Processing,
            State::Succeeded
        ]
    );
    assert_eq!(
        child.history[1].reason.as_deref(),
        Some(&*format!("Parent {parent} Succeeded"))
    );
    assert_eq!(done.parent.as_ref().unwrap().id, child.id);
    assert_eq!(Runs::get(&runs.ok), 3);
}

/// Failed is not final: continuations keep waiting while the parent can still
/// be requeued. Deleting the failed parent settles them: the default one is
/// Deleted with the reason, the AnyFinished one runs.
#[tokio::test]
async fn continuations_of_a_failed_parent() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let parent = env
        .client
        .enqueue(NewJob::of(&Flaky { fail_times: 9 }).unwrap().retries(0))
        .await
        .unwrap();
    let on_success = env
        .client
        .continue_with(&parent, &Ok1 { n: 1 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    let on_any = env
        .client
        .continue_with(&parent, &Ok1 { n: 2 }, ContinueOn::AnyFinished)
        .await
        .unwrap();
    env.drive_to(&poller, &parent, State::Failed, SHORT).await;
    assert_eq!(env.job(&on_success).await.state, State::Awaiting);
    assert_eq!(env.job(&on_any).await.state, State::Awaiting);

    env.client.delete(&parent).await.unwrap();
    let deleted = env.job(&on_success).await;
    assert_eq!(deleted.state, State::Deleted, "{}", history(&deleted));
    let reason = deleted.last_entry().unwrap().reason.clone().unwrap();
    assert!(
        reason.contains(&format!("Parent {parent} ended Deleted")),
        "{reason}"
    );
    assert!(deleted.expires_at.is_some());

    env.drive_to(&poller, &on_any, State::Succeeded, SHORT)
        .await;
    assert_eq!(
        Runs::get(&runs.ok),
        1,
        "only the AnyFinished continuation ran"
    );
}

/// A parent deleted by its retry policy releases continuations like any
/// final state, including a chain below a deleted continuation.
#[tokio::test]
async fn parent_deleted_by_retry_policy_settles_a_chain() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let parent = env
        .client
        .enqueue(
            NewJob::of(&Flaky { fail_times: 9 })
                .unwrap()
                .retry(RetryPolicy {
                    attempts: 0,
                    on_exhausted: OnExhausted::Delete,
                    ..RetryPolicy::default()
                }),
        )
        .await
        .unwrap();
    let child = env
        .client
        .continue_with(&parent, &Ok1 { n: 1 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    let after_child = env
        .client
        .continue_with(&child, &Ok1 { n: 2 }, ContinueOn::AnyFinished)
        .await
        .unwrap();
    env.drive_to(&poller, &parent, State::Deleted, SHORT).await;
    assert_eq!(env.job(&child).await.state, State::Deleted);
    env.drive_to(&poller, &after_child, State::Succeeded, SHORT)
        .await;
    assert_eq!(Runs::get(&runs.ok), 1);
}

/// A continuation added after its parent finished is settled at once.
#[tokio::test]
async fn continuation_added_after_parent_finished() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let parent = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    env.drive_to(&poller, &parent, State::Succeeded, SHORT)
        .await;

    let late = env
        .client
        .continue_with(&parent, &Ok1 { n: 2 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    let job = env.job(&late).await;
    assert_eq!(states(&job), [State::Awaiting, State::Enqueued]);
    assert_eq!(
        job.history[1].reason.as_deref(),
        Some(&*format!("Parent {parent} had already Succeeded"))
    );
    env.drive_to(&poller, &late, State::Succeeded, SHORT).await;

    let other = env.client.enqueue(&Ok1 { n: 3 }).await.unwrap();
    env.client.delete(&other).await.unwrap();
    let never = env
        .client
        .continue_with(&other, &Ok1 { n: 4 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    assert_eq!(env.job(&never).await.state, State::Deleted);
}

/// A continuation of a job that does not exist is refused; nothing is written.
#[tokio::test]
async fn continuation_of_missing_parent() {
    let env = TestEnv::new().await;
    let missing = JobId::generate();
    let err = env
        .client
        .continue_with(&missing, &Ok1 { n: 1 }, ContinueOn::Succeeded)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { id } if *id == missing),
        "{err}"
    );
    assert_eq!(env.item_count().await, 0);
}

/// An `Ok1` job and a continuation of it that runs if it Succeeded.
async fn parent_and_child(env: &TestEnv) -> (JobId, JobId) {
    let parent = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let child = env
        .client
        .continue_with(&parent, &Ok1 { n: 2 }, ContinueOn::Succeeded)
        .await
        .unwrap();
    (parent, child)
}

/// Whether the job's item is in the timer's Active bucket (its
/// continuations are not all released).
async fn is_due(env: &TestEnv, id: &JobId) -> bool {
    let item = env
        .ddb
        .get_item()
        .table_name(&env.config.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("job#{id}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item["bucket"].as_s().unwrap().starts_with("active#")
}

/// A release cut short after the parent Succeeded (its worker lost DynamoDB
/// or crashed) is finished by the timer after the grace period; until then
/// the continuation waits, and afterwards nothing is left for the timer.
#[tokio::test]
async fn interrupted_release_is_finished_by_the_timer() {
    let clock = ManualClock::new(Utc::now());
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let (parent, child) = parent_and_child(&env).await;

    env.faults.fail("UpdateItem", &format!("job#{child}"));
    env.drive_to(&poller, &parent, State::Succeeded, SHORT)
        .await;
    env.faults.clear();
    assert_eq!(env.job(&child).await.state, State::Awaiting);
    assert!(
        is_due(&env, &parent).await,
        "the parent stays due for release"
    );

    clock.advance(Duration::from_secs(9 * 60));
    assert!(timer.tick(BUDGET).await.unwrap().released.is_empty());
    clock.advance(Duration::from_secs(61));
    env.calls.reset();
    let report = timer.tick(BUDGET).await.unwrap();
    assert_eq!(report.released, vec![parent.clone()]);
    // The write that moves the parent's due time returns it: no read.
    assert_eq!(env.calls.count("GetItem"), 0, "{:?}", env.calls.counts());
    assert!(!is_due(&env, &parent).await);

    let child = env.drive_to(&poller, &child, State::Succeeded, SHORT).await;
    assert_eq!(
        child.history[1].reason.as_deref(),
        Some(&*format!("Parent {parent} Succeeded"))
    );
    clock.advance(Duration::from_secs(3600));
    let report = timer.tick(BUDGET).await.unwrap();
    assert!(
        report.released.is_empty() && report.stale == 0,
        "{report:?}"
    );
    assert_eq!(Runs::get(&runs.ok), 2);
}

/// A continuation added while its parent runs (after the worker read the
/// job) is still covered: the parent's final write sees it, and a release
/// that then fails is finished by the timer.
#[tokio::test]
async fn continuation_added_while_the_parent_runs_is_released() {
    let clock = ManualClock::new(Utc::now());
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let added = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (client, slot): (Client, _) = (env.client.clone(), added.clone());
    let worker_registry = Registry::new().job(move |_: Ok1, ctx: JobContext| {
        let (client, slot) = (client.clone(), slot.clone());
        async move {
            if ctx.attempt() == 1 && slot.lock().unwrap().is_none() {
                let id = client
                    .continue_with(ctx.id(), &Ok1 { n: 9 }, ContinueOn::Succeeded)
                    .await
                    .map_err(|e| hangar::JobFailure::msg(e.to_string()))?;
                *slot.lock().unwrap() = Some(id);
            }
            Ok(())
        }
    });
    let poller = env.poller(worker_registry);
    let parent = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    // Every continuation's release fails until the faults are cleared.
    env.faults.fail("UpdateItem", "Parent ");
    env.drive_to(&poller, &parent, State::Succeeded, SHORT)
        .await;
    env.faults.clear();
    let child = added.lock().unwrap().clone().expect("continuation added");
    assert_eq!(env.job(&child).await.state, State::Awaiting);
    assert_eq!(env.job(&parent).await.continuations.len(), 1);

    clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(
        timer.tick(BUDGET).await.unwrap().released,
        vec![parent.clone()]
    );
    env.drive_to(&poller, &child, State::Succeeded, SHORT).await;
}

/// An ordinary release takes the parent off the timer's index: one more
/// write for a job with continuations, none for a job without.
#[tokio::test]
async fn released_parent_leaves_nothing_for_the_timer() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let (parent, child) = parent_and_child(&env).await;
    env.calls.reset();
    env.drive_to(&poller, &parent, State::Succeeded, SHORT)
        .await;
    // Claim and finish of the parent, release of the child, clearing the
    // parent's due entry.
    assert_eq!(env.calls.count("UpdateItem"), 4, "{:?}", env.calls.counts());
    assert!(!is_due(&env, &parent).await);
    env.drive_to(&poller, &child, State::Succeeded, SHORT).await;
    assert!(!is_due(&env, &child).await);
}

/// A job holds at most `MAX_CONTINUATIONS`; one more is refused with a clear
/// error and nothing is written, and the full set is still settled when the
/// parent finishes.
#[tokio::test]
async fn continuations_per_job_are_bounded() {
    let env = TestEnv::new().await;
    let parent = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let mut children = Vec::new();
    for n in 0..hangar::job::MAX_CONTINUATIONS as u32 {
        let id = env
            .client
            .continue_with(&parent, &Ok1 { n }, ContinueOn::Succeeded)
            .await
            .unwrap();
        children.push(id);
    }
    let err = env
        .client
        .continue_with(&parent, &Ok1 { n: 999 }, ContinueOn::Succeeded)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Invalid {
                what: "continuation",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("250 continuations"), "{err}");
    assert_eq!(env.item_count().await as usize, 1 + children.len());

    env.client.delete(&parent).await.unwrap();
    for id in &children {
        assert_eq!(env.job(id).await.state, State::Deleted);
    }
}
