//! Client operations and the transitions they cause.

use std::time::Duration;

use hangar::message::WakeUp;
use hangar::{Error, JobId, NewJob, OnExhausted, RetryPolicy, State};
use hangar_integration_tests::{TestEnv, history, states};

use crate::support::{Flaky, Ok1, Runs, SHORT, registry};

/// The happy path costs the client 1 DynamoDB write + 1 SQS send, and the
/// worker 2 DynamoDB writes, and one read of the queue's control (paused?)
/// per worker and queue every 5 s, not per job.
#[tokio::test]
async fn enqueue_runs_to_succeeded_with_minimal_calls() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));

    env.calls.reset();
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let client_calls = env.calls.counts();
    assert_eq!(client_calls.get("PutItem"), Some(&1), "{client_calls:?}");
    assert_eq!(
        client_calls.get("SendMessage"),
        Some(&1),
        "{client_calls:?}"
    );
    assert_eq!(
        client_calls.len(),
        2,
        "client made other calls: {client_calls:?}"
    );

    env.calls.reset();
    while poller.poll_once().await.unwrap() == 0 {}
    // Besides the receive and delete that the Lambda event source mapping
    // does in production (the poller does them here), exactly two writes.
    let mut worker_calls = env.calls.counts();
    worker_calls.retain(|op, _| op != "ReceiveMessage" && op != "DeleteMessageBatch");
    assert_eq!(
        worker_calls,
        [("BatchGetItem".to_owned(), 1), ("UpdateItem".to_owned(), 2)].into(),
        "the worker made other calls"
    );
    // A second job within the check interval: the two writes alone.
    let second = env.client.enqueue(&Ok1 { n: 2 }).await.unwrap();
    env.calls.reset();
    while poller.poll_once().await.unwrap() == 0 {}
    let mut worker_calls = env.calls.counts();
    worker_calls.retain(|op, _| op != "ReceiveMessage" && op != "DeleteMessageBatch");
    assert_eq!(
        worker_calls,
        [("UpdateItem".to_owned(), 2)].into(),
        "the worker made other calls"
    );
    assert_eq!(env.job(&second).await.state, State::Succeeded);

    let job = env.job(&id).await;
    assert_eq!(job.state, State::Succeeded, "{}", history(&job));
    assert_eq!(
        states(&job),
        [State::Enqueued, State::Processing, State::Succeeded]
    );
    assert_eq!(job.attempt, 1);
    assert_eq!(Runs::get(&runs.ok), 2);
    assert!(job.history[2].data.contains_key("duration_ms"));
    // Final states expire after the retention period (1 day by default).
    let ttl = job.expires_at.expect("succeeded job has a TTL");
    let in_a_day = job.updated_at + chrono::Duration::days(1);
    assert!(
        (ttl - in_a_day).num_seconds().abs() <= 1,
        "{ttl} vs {in_a_day}"
    );
}

/// A failed run is retried through SQS with a delay and then succeeds.
#[tokio::test]
async fn retry_then_success() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Flaky { fail_times: 1 }).await.unwrap();

    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(
        states(&job),
        [
            State::Enqueued,
            State::Processing,
            State::Scheduled,
            State::Enqueued,
            State::Processing,
            State::Succeeded
        ],
        "{}",
        history(&job)
    );
    let retry = &job.history[2];
    assert!(
        retry
            .reason
            .as_deref()
            .unwrap()
            .starts_with("Retry 1 of 10 in 1s"),
        "{retry:?}"
    );
    assert_eq!(retry.data["error_message"], "planned failure 1");
    assert_eq!(retry.data["error_type"], "hangar::JobFailure");
    assert_eq!(job.attempt, 2);
    assert_eq!(job.last_error.as_deref(), Some("planned failure 1"));
    // The retry did not start before its delay.
    let gap = job.history[4].at - job.history[2].at;
    assert!(
        gap >= chrono::Duration::milliseconds(900),
        "retried after {gap}"
    );
    assert_eq!(Runs::get(&runs.flaky), 2);
}

/// Retries used up: Failed by default, never expiring.
#[tokio::test]
async fn retries_exhausted_fail() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let job = NewJob::of(&Flaky { fail_times: 99 })
        .unwrap()
        .retry(RetryPolicy {
            attempts: 2,
            delays_secs: vec![1],
            on_exhausted: OnExhausted::Fail,
        });
    let id = env.client.enqueue(job).await.unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(Runs::get(&runs.flaky), 3, "one run and two retries");
    assert_eq!(job.attempt, 3);
    let last = job.last_entry().unwrap();
    assert_eq!(last.reason.as_deref(), Some("Retries exhausted (2 of 2)"));
    assert_eq!(last.data["error_message"], "planned failure 3");
    assert_eq!(job.expires_at, None, "Failed never expires");
}

/// Retries used up with the Delete policy: Deleted, expiring like Succeeded.
#[tokio::test]
async fn retries_exhausted_delete() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let job = NewJob::of(&Flaky { fail_times: 99 })
        .unwrap()
        .retry(RetryPolicy {
            attempts: 1,
            delays_secs: vec![1],
            on_exhausted: OnExhausted::Delete,
        });
    let id = env.client.enqueue(job).await.unwrap();
    let job = env.drive_to(&poller, &id, State::Deleted, SHORT).await;
    assert_eq!(Runs::get(&runs.flaky), 2);
    assert!(job.expires_at.is_some());
    assert_eq!(
        job.last_entry().unwrap().reason.as_deref(),
        Some("Retries exhausted (1 of 1)")
    );
}

/// A job deleted while enqueued never runs; its message is dropped.
#[tokio::test]
async fn delete_enqueued_job_before_it_runs() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    env.client.delete(&id).await.unwrap();
    assert_eq!(
        poller.poll_once().await.unwrap(),
        1,
        "the message is consumed"
    );
    let job = env.job(&id).await;
    assert_eq!(states(&job), [State::Enqueued, State::Deleted]);
    assert_eq!(Runs::get(&runs.ok), 0);
    assert_eq!(
        env.queue_depth("default").await,
        (0, 0, 0),
        "dropped, not put back"
    );
    // Deleting again is refused with the current state.
    match env.client.delete(&id).await {
        Err(Error::InvalidTransition {
            from: State::Deleted,
            to: State::Deleted,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// Rescheduling wins over a message already in SQS: the old message is
/// dropped as stale and the job runs at its new time.
#[tokio::test]
async fn reschedule_enqueued_job_to_later() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    env.client
        .reschedule(&id, Duration::from_secs(2))
        .await
        .unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Scheduled);
    assert!(
        job.handed_off,
        "due within 15 minutes: handed to SQS with a delay"
    );
    let due = job.run_at.unwrap();

    // The v1 message is consumed and dropped; the job does not run early.
    assert_eq!(poller.poll_once().await.unwrap(), 1);
    assert_eq!(Runs::get(&runs.ok), 0);
    assert_eq!(env.job(&id).await.state, State::Scheduled);

    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    let started = job
        .history
        .iter()
        .find(|h| h.state == State::Processing)
        .unwrap()
        .at;
    assert!(
        started >= due - chrono::Duration::seconds(1),
        "started {started}, due {due}"
    );
    assert_eq!(Runs::get(&runs.ok), 1);
}

/// A job scheduled beyond 15 minutes stays in DynamoDB for the timer; a
/// reschedule to soon hands it to SQS.
#[tokio::test]
async fn schedule_far_out_then_reschedule_soon() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env
        .client
        .schedule(&Ok1 { n: 1 }, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Scheduled);
    assert!(!job.handed_off);
    assert_eq!(
        env.queue_depth("default").await,
        (0, 0, 0),
        "nothing sent yet"
    );

    let at = chrono::Utc::now() + chrono::Duration::seconds(1);
    let due = env.client.reschedule(&id, at).await.unwrap();
    assert_eq!(
        due.timestamp_millis(),
        at.timestamp_millis(),
        "stored to the ms"
    );
    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(
        states(&job),
        [
            State::Scheduled,
            State::Scheduled,
            State::Enqueued,
            State::Processing,
            State::Succeeded
        ]
    );
}

/// A Failed job can be requeued; it runs again with its retry budget reset.
#[tokio::test]
async fn requeue_failed_job() {
    let env = TestEnv::new().await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    // Fails on its first call only (say, a downstream outage later fixed).
    let poller = hangar::Poller::new(
        env.worker(hangar::Registry::new().raw("once", move |_, _| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(hangar::JobFailure::msg("downstream unavailable"))
                } else {
                    Ok(())
                }
            }
        })),
        "default",
    );
    let job = NewJob::new("once", serde_json::json!({})).retries(0);
    let id = env.client.enqueue(job).await.unwrap();
    let failed = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(failed.attempt, 1);
    assert!(
        failed
            .last_entry()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .starts_with("Retries exhausted (0 of 0)")
    );

    env.client.requeue(&id).await.unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Enqueued);
    assert_eq!(job.attempt, 0, "retry budget starts over");
    assert_eq!(
        job.last_entry().unwrap().reason.as_deref(),
        Some("Requeued (was Failed)")
    );

    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(job.attempt, 1);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        job.last_error.as_deref(),
        Some("downstream unavailable"),
        "the last error stays visible"
    );
}

/// Requeue moves a Succeeded job back to Enqueued and it runs again.
#[tokio::test]
async fn requeue_succeeded_job_runs_again() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    env.client.requeue(&id).await.unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.expires_at, None, "no longer final: the TTL is removed");
    let job = env
        .drive_until(&poller, &id, SHORT, |j| {
            j.state == State::Succeeded && j.history.len() > 3
        })
        .await;
    assert_eq!(Runs::get(&runs.ok), 2);
    assert!(job.expires_at.is_some());
}

/// Operations on missing jobs and refused transitions say what is wrong.
#[tokio::test]
async fn errors_callers_can_branch_on() {
    let env = TestEnv::new().await;
    let missing = JobId::generate();
    assert!(env.client.get(&missing).await.unwrap().is_none());
    assert!(matches!(
        env.client.requeue(&missing).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.client.delete(&missing).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        env.client
            .reschedule(&missing, Duration::from_secs(1))
            .await,
        Err(Error::NotFound { .. })
    ));

    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let err = env.client.requeue(&id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: State::Enqueued,
                to: State::Enqueued,
                ..
            }
        ),
        "{err}"
    );

    let big = NewJob::new("ok", serde_json::json!({ "blob": "x".repeat(200_000) }));
    env.calls.reset();
    assert!(matches!(
        env.client.enqueue(big).await,
        Err(Error::PayloadTooLarge { .. })
    ));
    assert_eq!(
        env.calls.counts().len(),
        0,
        "nothing written for a refused job"
    );

    let err = env
        .client
        .enqueue(NewJob::new("ok", serde_json::json!({})).queue("Nope!"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "queue name",
                ..
            }
        ),
        "{err}"
    );

    let err = env
        .client
        .enqueue(NewJob::new("ok", serde_json::json!({})).queue("missing"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no SQS queue named"), "{err}");
}

/// A Processing job can only be deleted; requeue and reschedule would let a
/// second run start beside it.
#[tokio::test]
async fn running_job_refuses_requeue_and_reschedule() {
    let env = TestEnv::new().await;
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let job = env.job(&id).await;
    // Claim it the way the worker does, without running it to the end.
    let worker = env.worker(hangar::Registry::new().raw("ok", |_, _| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }));
    let delivery = hangar::Delivery {
        message_id: "m1".into(),
        body: WakeUp::for_job(&job).to_body(),
        queue: "default".into(),
        attributes: Default::default(),
    };
    let task = tokio::spawn(async move { worker.handle(&delivery, None).await });
    let env_job = loop {
        let j = env.job(&id).await;
        if j.state == State::Processing {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(env_job.lease_until.is_some());
    for err in [
        env.client.requeue(&id).await.unwrap_err(),
        env.client
            .reschedule(&id, Duration::from_secs(5))
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::InvalidTransition {
                    from: State::Processing,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("while it is running"), "{err}");
    }
    env.client.delete(&id).await.unwrap();
    task.abort();
}

/// `enqueue_many` uses batch APIs: 25 items per BatchWriteItem, 10 messages
/// per SendMessageBatch.
#[tokio::test]
async fn enqueue_many_uses_batch_calls() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let jobs: Vec<NewJob> = (0..60).map(|n| NewJob::of(&Ok1 { n }).unwrap()).collect();
    env.calls.reset();
    let ids = env.client.enqueue_many(jobs).await.unwrap();
    assert_eq!(ids.len(), 60);
    let calls = env.calls.counts();
    assert_eq!(calls.get("BatchWriteItem"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("SendMessageBatch"), Some(&6), "{calls:?}");
    assert_eq!(calls.get("PutItem"), None);

    let start = std::time::Instant::now();
    while Runs::get(&runs.ok) < 60 && start.elapsed() < Duration::from_secs(30) {
        poller.poll_once().await.unwrap();
    }
    for id in &ids {
        assert_eq!(env.job(id).await.state, State::Succeeded);
    }
    assert_eq!(Runs::get(&runs.ok), 60, "each ran exactly once");
}

/// Setting up resources twice is harmless: the second run (with other
/// queue settings) leaves the table, its index, TTL and the existing
/// queues exactly as the first made them, and adds the new queue.
#[tokio::test]
async fn setup_is_idempotent() {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let env = TestEnv::new().await;
    let table = || async {
        env.ddb
            .describe_table()
            .table_name(&env.config.table)
            .send()
            .await
            .unwrap()
            .table
            .unwrap()
    };
    let sqs = env.sqs.clone();
    let queue = move |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()
        }
    };
    let before = table().await;
    let default_before = queue(env.config.queue_urls["default"].clone()).await;

    let again = hangar::setup::ensure(
        &env.ddb,
        &env.sqs,
        &env.config,
        &["default", "critical"],
        &hangar::setup::QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 9,
        },
    )
    .await
    .unwrap();
    assert_eq!(again[0].1, env.config.queue_urls["default"]);
    assert!(again[1].1.ends_with("-critical"), "{again:?}");

    let after = table().await;
    assert_eq!(after.key_schema(), before.key_schema());
    assert_eq!(
        after.attribute_definitions(),
        before.attribute_definitions()
    );
    assert_eq!(
        after.creation_date_time(),
        before.creation_date_time(),
        "not recreated"
    );
    let gsi = after.global_secondary_indexes();
    assert_eq!(gsi.len(), 1);
    assert_eq!(gsi[0].index_name(), Some(hangar::store::INDEX));
    let keys: Vec<&str> = gsi[0]
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, ["bucket", "bucket_at"]);
    let mut projected = gsi[0].projection().unwrap().non_key_attributes().to_vec();
    projected.sort();
    assert_eq!(
        projected,
        ["created", "duration_ms", "kind", "queue", "runs"]
    );
    let ttl = env
        .ddb
        .describe_time_to_live()
        .table_name(&env.config.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );

    // The existing queue keeps its settings (the test's: visibility 2 s,
    // 3 receives); the new one gets the settings asked for.
    let default_after = queue(again[0].1.clone()).await;
    for a in [A::VisibilityTimeout, A::RedrivePolicy, A::QueueArn] {
        assert_eq!(default_after.get(&a), default_before.get(&a), "{a:?}");
    }
    assert_eq!(default_after[&A::VisibilityTimeout], "2");
    let critical = queue(again[1].1.clone()).await;
    assert_eq!(critical[&A::VisibilityTimeout], "30");
    let redrive: serde_json::Value = serde_json::from_str(&critical[&A::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(9));
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-critical-dlq"),
        "{redrive}"
    );
}

/// A job's own retention overrides the global one, in the worker's result
/// write (no extra read) and on delete; requeue clears the expiry again.
#[tokio::test]
async fn per_job_retention() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let short = env
        .client
        .enqueue(
            NewJob::of(&Ok1 { n: 1 })
                .unwrap()
                .retention(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    let job = env.drive_to(&poller, &short, State::Succeeded, SHORT).await;
    let keep = job.expires_at.expect("ttl") - job.updated_at;
    assert!((keep.num_seconds() - 120).abs() <= 1, "{keep}");
    assert_eq!(job.options.retention, Some(Duration::from_secs(120)));

    env.client.requeue(&short).await.unwrap();
    assert_eq!(
        env.job(&short).await.expires_at,
        None,
        "requeued: no expiry"
    );
    env.client.delete(&short).await.unwrap();
    let job = env.job(&short).await;
    let keep = job.expires_at.expect("ttl") - job.updated_at;
    assert!((keep.num_seconds() - 120).abs() <= 1, "{keep}");

    // Without one, the global retention (1 day here).
    let default = env.client.enqueue(&Ok1 { n: 2 }).await.unwrap();
    env.client.delete(&default).await.unwrap();
    let job = env.job(&default).await;
    let keep = job.expires_at.expect("ttl") - job.updated_at;
    assert!((keep.num_seconds() - 86_400).abs() <= 1, "{keep}");
}

/// Bulk requeue: one conditional write per job, wake-ups in batches of 10,
/// a refused job reported without stopping the rest.
#[tokio::test]
async fn requeue_many_batches_the_sends() {
    let env = TestEnv::new().await;
    let mut ids = Vec::new();
    for n in 0..25 {
        let id = env.client.enqueue(&Ok1 { n }).await.unwrap();
        env.client.delete(&id).await.unwrap();
        ids.push(id);
    }
    let awaiting = env
        .client
        .continue_with(&ids[0], &Ok1 { n: 99 }, hangar::ContinueOn::AnyFinished)
        .await
        .unwrap();
    // Settled at once (the parent is Deleted): an Enqueued job cannot be requeued.
    ids.push(awaiting);
    let seen = std::sync::atomic::AtomicUsize::new(0);
    env.calls.reset();
    let results = env
        .client
        .requeue_many(&ids, 8, |_, _| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .await;
    assert_eq!(seen.into_inner(), 26);
    assert!(results[..25].iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert!(matches!(
        results[25].1,
        Err(Error::InvalidTransition { .. })
    ));
    let calls = env.calls.counts();
    assert_eq!(calls.get("SendMessageBatch"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("SendMessage"), None, "{calls:?}");
    for id in &ids[..25] {
        assert_eq!(env.job(id).await.state, State::Enqueued);
    }
    assert_eq!(env.queue_depth("default").await.0, 25 + 25 + 1);
}

/// Listing and counting by state through the sharded index: newest first,
/// a queue filter, a limit, and one `BatchGetItem` per 100 jobs listed
/// (no read per job).
#[tokio::test]
async fn list_and_count_by_state() {
    let env = TestEnv::with(hangar_integration_tests::EnvOptions {
        queues: vec!["default", "mail"],
        ..Default::default()
    })
    .await;
    let jobs: Vec<NewJob> = (0..120).map(|n| NewJob::of(&Ok1 { n }).unwrap()).collect();
    let ids = env.client.enqueue_many(jobs).await.unwrap();
    let mail = env
        .client
        .enqueue(NewJob::of(&Ok1 { n: 999 }).unwrap().queue("mail"))
        .await
        .unwrap();
    env.client.delete(&ids[0]).await.unwrap();

    env.calls.reset();
    let listed = env.client.list(State::Enqueued, None, 200).await.unwrap();
    let calls = env.calls.counts();
    assert_eq!(listed.len(), 120, "119 left of the batch and the mail job");
    assert!(listed.iter().all(|j| j.state == State::Enqueued));
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].updated_at >= w[1].updated_at),
        "newest first"
    );
    assert_eq!(calls.get("BatchGetItem"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("GetItem"), None, "{calls:?}");

    let only_mail = env
        .client
        .list(State::Enqueued, Some("mail"), 10)
        .await
        .unwrap();
    assert_eq!(only_mail.iter().map(|j| &j.id).collect::<Vec<_>>(), [&mail]);
    assert_eq!(
        env.client
            .list(State::Enqueued, None, 5)
            .await
            .unwrap()
            .len(),
        5
    );

    let counts: std::collections::HashMap<State, u64> = env
        .client
        .counts()
        .await
        .unwrap()
        .into_iter()
        .map(|(state, c)| (state, c.n))
        .collect();
    assert_eq!(counts[&State::Enqueued], 120);
    assert_eq!(counts[&State::Deleted], 1);
    assert_eq!(counts[&State::Failed], 0);
}

/// Listing pages by cursor: every job once, newest first across pages, a
/// bounded number of queries per page (one per shard); a cursor from
/// another listing is refused.
#[tokio::test]
async fn list_pages_by_cursor() {
    let env = TestEnv::new().await;
    let jobs: Vec<NewJob> = (0..30).map(|n| NewJob::of(&Ok1 { n }).unwrap()).collect();
    let ids = env.client.enqueue_many(jobs).await.unwrap();
    for id in &ids {
        env.client.delete(id).await.unwrap();
    }
    let query = hangar::ListQuery::state(State::Deleted);
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        env.calls.reset();
        let page = env
            .client
            .list_page(&query, 7, cursor.as_ref())
            .await
            .unwrap();
        let calls = env.calls.counts();
        assert!(calls["Query"] <= 8, "{calls:?}");
        assert!(page.jobs.len() <= 7);
        seen.extend(page.jobs);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages >= 5, "{pages} pages");
    assert_eq!(seen.len(), 30);
    let mut unique: Vec<&JobId> = seen.iter().map(|j| &j.id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30, "no job twice");
    assert!(
        seen.windows(2).all(|w| w[0].updated_at >= w[1].updated_at),
        "newest first across pages"
    );
    // Kind and queue filters.
    let none = hangar::ListQuery {
        kind: Some("other".into()),
        ..query.clone()
    };
    assert!(
        env.client
            .list_page(&none, 50, None)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    // A Deleted cursor (8 lanes) does not fit a Scheduled listing (16).
    let first = env.client.list_page(&query, 7, None).await.unwrap();
    let err = env
        .client
        .list_page(
            &hangar::ListQuery::state(State::Scheduled),
            7,
            first.next.as_ref(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cursor"), "{err}");
}

/// Processing jobs share an index bucket with Enqueued ones; listing them
/// starts at the old end, so running jobs show on the first page behind a
/// backlog of newer Enqueued jobs, and counts tell them apart.
#[tokio::test]
async fn running_jobs_are_listed_behind_a_backlog() {
    use std::sync::Arc;
    let env = TestEnv::new().await;
    let release = Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    let worker = env.worker(hangar::Registry::new().raw("hold", move |_, _| {
        let hold = hold.clone();
        async move {
            hold.notified().await;
            Ok(())
        }
    }));
    let mut running = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..2 {
        let id = env
            .client
            .enqueue(NewJob::new("hold", serde_json::json!({ "n": n })))
            .await
            .unwrap();
        let body = WakeUp::for_job(&env.job(&id).await).to_body();
        let worker = worker.clone();
        tasks.push(tokio::spawn(async move {
            let d = hangar::Delivery {
                message_id: format!("m{n}"),
                body,
                queue: "default".into(),
                attributes: Default::default(),
            };
            worker.handle(&d, None).await
        }));
        running.push(id);
    }
    let backlog: Vec<NewJob> = (0..40).map(|n| NewJob::of(&Ok1 { n }).unwrap()).collect();
    env.client.enqueue_many(backlog).await.unwrap();
    let start = std::time::Instant::now();
    while env
        .client
        .list(State::Processing, None, 10)
        .await
        .unwrap()
        .len()
        < 2
    {
        assert!(start.elapsed() < SHORT, "the jobs did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let page = env
        .client
        .list_page(&hangar::ListQuery::state(State::Processing), 5, None)
        .await
        .unwrap();
    let mut listed: Vec<JobId> = page.jobs.iter().map(|j| j.id.clone()).collect();
    listed.sort();
    running.sort();
    assert_eq!(listed, running, "both on the first page of 5");
    let counts: std::collections::HashMap<State, hangar::Count> =
        env.client.counts().await.unwrap().into_iter().collect();
    assert_eq!(counts[&State::Processing].n, 2);
    assert_eq!(counts[&State::Enqueued].n, 40);

    release.notify_waiters();
    for t in tasks {
        assert_eq!(t.await.unwrap(), hangar::Outcome::Ran(State::Succeeded));
    }
}
