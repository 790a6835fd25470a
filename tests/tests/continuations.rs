//! Continuations: released when the parent reaches a final state.

use hangar::{ContinueOn, Error, JobId, NewJob, OnExhausted, RetryPolicy, State};
use hangar_integration_tests::{TestEnv, history, states};

use crate::support::{Flaky, Ok1, Runs, SHORT, registry};

/// A continuation waits in Awaiting and runs after its parent Succeeded.
#[tokio::test]
async fn continuation_runs_after_parent_succeeded() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let parent = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let child = env
        .client
        .continue_with(&parent, &Ok1 { n: 2 }, ContinueOn::Succeeded)
        .await
        .unwrap();
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
