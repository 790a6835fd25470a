//! The worker under at-least-once delivery: duplicates, leases, bad input.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hangar::message::WakeUp;
use hangar::worker::INVALID_MESSAGE_KIND;
use hangar::{JobId, ManualClock, NewJob, Outcome, Registry, State};
use hangar_integration_tests::{EnvOptions, TestEnv, history, states};
use tokio::sync::Notify;

use crate::support::{Boom, Ok1, Runs, SHORT, Slow, delivery, registry};

/// Two deliveries of one message at once: the job runs once; the duplicate
/// is put back for later and then dropped as stale.
#[tokio::test]
async fn duplicate_delivery_runs_once() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let worker = env.worker(registry(&runs));
    let id = env.client.enqueue(&Slow { ms: 1500 }).await.unwrap();
    let body = WakeUp::for_job(&env.job(&id).await).to_body();

    let (d1, d2) = (delivery("m1", body.clone()), delivery("m2", body.clone()));
    let (a, (b, put_back_calls)) = tokio::join!(worker.handle(&d1, None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.calls.reset();
        let outcome = worker.handle(&d2, None).await;
        (outcome, env.calls.counts())
    });
    assert_eq!(a, Outcome::Ran(State::Succeeded));
    assert!(
        matches!(b, Outcome::PutBack(d) if d > Duration::from_secs(250)),
        "{b:?}"
    );
    // The refused claim returns the job, so putting back costs no read.
    assert_eq!(
        put_back_calls,
        [("SendMessage".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into()
    );
    assert_eq!(Runs::get(&runs.slow), 1);

    // The original enqueue message and the put-back copy are both stale now.
    let poller = hangar::Poller::new(worker.clone(), "default");
    poller.poll_once().await.unwrap();
    assert_eq!(Runs::get(&runs.slow), 1);
    let again = worker.handle(&delivery("m3", body), None).await;
    assert!(
        matches!(&again, Outcome::Dropped(why) if why.starts_with("stale")),
        "{again:?}"
    );
    let job = env.job(&id).await;
    assert_eq!(
        states(&job),
        [State::Enqueued, State::Processing, State::Succeeded]
    );
}

/// A run whose worker vanished keeps its lease until it expires; then the
/// job is claimed again as a new attempt.
#[tokio::test]
async fn lease_expiry_and_reclaim() {
    let clock = ManualClock::starting_now();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let calls = Arc::new(AtomicU32::new(0));
    let hang = Arc::new(Notify::new());
    let (c, h) = (calls.clone(), hang.clone());
    let worker = env.worker(Registry::new().raw("ok", move |_, _| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        let h = h.clone();
        async move {
            if first {
                // The first run never finishes: its worker "crashes" below.
                h.notified().await;
            }
            Ok(())
        }
    }));
    let id = env
        .client
        .enqueue(
            NewJob::of(&Ok1 { n: 1 })
                .unwrap()
                .timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let body = WakeUp::for_job(&env.job(&id).await).to_body();

    // Run 1 claims the job, then its worker is killed mid-run.
    let w = worker.clone();
    let b = body.clone();
    let crashed = tokio::spawn(async move { w.handle(&delivery("m1", b), None).await });
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.abort();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Processing);
    let lease = job.lease_until.unwrap();
    let expected = clock_now(&env) + chrono::Duration::seconds(70);
    assert!(
        (lease - expected).num_milliseconds().abs() < 1000,
        "lease {lease}, expected ~{expected}"
    );

    // The redelivery during the lease does not run the job.
    clock.advance(Duration::from_secs(30));
    let out = worker.handle(&delivery("m1", body.clone()), None).await;
    assert!(
        matches!(out, Outcome::PutBack(d) if (39..=40).contains(&d.as_secs())),
        "{out:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // After the lease: reclaimed as attempt 2, runs, succeeds.
    clock.advance(Duration::from_secs(41));
    let out = worker.handle(&delivery("m1", body.clone()), None).await;
    assert_eq!(out, Outcome::Ran(State::Succeeded));
    let job = env.job(&id).await;
    assert_eq!(job.attempt, 2);
    assert_eq!(
        states(&job),
        [
            State::Enqueued,
            State::Processing,
            State::Processing,
            State::Succeeded
        ],
        "{}",
        history(&job)
    );
    assert!(
        job.history[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("Lease of run 1 expired")
    );
}

/// A job whose runs keep losing their worker is not reclaimed forever: the
/// lost runs use up its retries and it ends Failed.
#[tokio::test]
async fn lost_runs_count_against_retries() {
    let clock = ManualClock::starting_now();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let started = Arc::new(AtomicU32::new(0));
    let s = started.clone();
    let worker = env.worker(Registry::new().raw("ok", move |_, _| {
        s.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<hangar::HandlerResult>()
    }));
    let id = env
        .client
        .enqueue(NewJob::of(&Ok1 { n: 1 }).unwrap().retries(1))
        .await
        .unwrap();
    let body = WakeUp::for_job(&env.job(&id).await).to_body();
    for run in 1..=2 {
        let w = worker.clone();
        let b = body.clone();
        let t = tokio::spawn(async move { w.handle(&delivery("m", b), None).await });
        while started.load(Ordering::SeqCst) < run {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.abort();
        clock.advance(Duration::from_secs(400));
    }
    let out = worker.handle(&delivery("m", body), None).await;
    assert!(
        matches!(&out, Outcome::Dropped(why) if why.contains("no retries left")),
        "{out:?}"
    );
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Failed, "{}", history(&job));
    assert_eq!(
        job.last_entry().unwrap().data["error_type"],
        "hangar::LeaseExpired"
    );
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

/// A kind no handler is registered for fails at once, without retries.
#[tokio::test]
async fn unknown_kind_fails_without_retry() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env
        .client
        .enqueue(NewJob::new("no_such_kind", serde_json::json!({})))
        .await
        .unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(
        states(&job),
        [State::Enqueued, State::Processing, State::Failed]
    );
    let last = job.last_entry().unwrap();
    assert_eq!(last.data["error_type"], "hangar::UnknownKind");
    assert!(last.data["error_message"].contains("no handler for kind \"no_such_kind\""));
    assert!(
        last.data["error_message"].contains("boom, flaky, ok, slow"),
        "{last:?}"
    );
    assert!(
        last.reason
            .as_deref()
            .unwrap()
            .starts_with("Failed without retry")
    );
}

/// Arguments that do not decode as the typed job fail at once, saying why.
#[tokio::test]
async fn undecodable_args_fail_without_retry() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env
        .client
        .enqueue(NewJob::new(
            "ok",
            serde_json::json!({ "n": "not a number" }),
        ))
        .await
        .unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    let msg = &job.last_entry().unwrap().data["error_message"];
    assert!(msg.contains("arguments do not match kind ok"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
    assert_eq!(Runs::get(&runs.ok), 0);
}

/// A panicking handler is a failure like any other: recorded and retried.
#[tokio::test]
async fn panics_are_caught_and_retried() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let job = NewJob::of(&Boom {}).unwrap().retry(hangar::RetryPolicy {
        attempts: 1,
        delays_secs: vec![1],
        ..Default::default()
    });
    let id = env.client.enqueue(job).await.unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(Runs::get(&runs.boom), 2);
    let first = job
        .history
        .iter()
        .find(|h| h.state == State::Scheduled)
        .unwrap();
    assert_eq!(first.data["error_type"], "panic");
    assert_eq!(first.data["error_message"], "handler panicked: kaboom");
}

/// A run longer than its timeout is stopped and counted as a failure.
#[tokio::test]
async fn timeouts_stop_the_run() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let job = NewJob::of(&Slow { ms: 5_000 })
        .unwrap()
        .timeout(Duration::from_secs(1))
        .retries(0);
    let id = env.client.enqueue(job).await.unwrap();
    let start = std::time::Instant::now();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let last = job.last_entry().unwrap();
    assert_eq!(last.data["error_type"], "hangar::Timeout");
    assert_eq!(last.data["error_message"], "timed out after 1s");
}

/// A message that is not a Hangar message becomes one Failed job that shows
/// the body; a redelivery does not make a second; good messages in the same
/// batch still run.
#[tokio::test]
async fn malformed_messages_become_failed_jobs() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let worker = env.worker(registry(&runs));
    let good = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let good_body = WakeUp::for_job(&env.job(&good).await).to_body();
    let batch = vec![
        delivery("bad-1", "hello, not json".to_owned()),
        delivery("bad-2", r#"{"kind":"x"}"#.to_owned()),
        delivery("good", good_body),
    ];
    let failed = worker.handle_batch(batch.clone(), None).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(env.job(&good).await.state, State::Succeeded);

    let bad = env.job(&JobId::parse("msg-bad-1").unwrap()).await;
    assert_eq!(bad.state, State::Failed);
    assert_eq!(bad.kind, INVALID_MESSAGE_KIND);
    let entry = bad.last_entry().unwrap();
    assert!(
        entry.reason.as_deref().unwrap().contains("not JSON"),
        "{entry:?}"
    );
    assert_eq!(entry.data["raw_body"], "hello, not json");
    assert_eq!(bad.args["raw_body"], "hello, not json");
    let bad2 = env.job(&JobId::parse("msg-bad-2").unwrap()).await;
    assert!(
        bad2.last_error
            .unwrap()
            .contains("neither \"hangar\" (a wake-up) nor \"hangar_intake\"")
    );

    // Redelivery of the same messages: still one record each, acknowledged.
    let failed = worker.handle_batch(batch[..2].to_vec(), None).await;
    assert!(failed.is_empty());
    assert_eq!(env.item_count().await, 3);
}

/// Through SQS end to end: a raw body sent by another producer is recorded
/// and acknowledged, not redelivered.
#[tokio::test]
async fn malformed_message_from_sqs_is_acknowledged() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let message_id = env.send_raw("default", "<xml/>").await;
    assert_eq!(poller.poll_once().await.unwrap(), 1);
    let job = env
        .job(&JobId::parse(format!("msg-{message_id}")).unwrap())
        .await;
    assert_eq!(job.state, State::Failed);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        env.queue_depth("default").await,
        (0, 0, 0),
        "deleted, not left to reappear"
    );
}

/// The Lambda entry point reports only the messages to retry. The event is
/// the SQS fixture beside the tests, as Lambda would send it.
#[tokio::test]
async fn lambda_handler_reports_partial_batch_failures() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let worker = env.worker(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let event = fixture_event(&env, &id).await;
    let resp = worker
        .handle_lambda(lambda_runtime::LambdaEvent::new(
            event,
            lambda_runtime::Context::default(),
        ))
        .await
        .unwrap();
    assert!(
        resp.batch_item_failures.is_empty(),
        "{:?}",
        resp.batch_item_failures
    );
    assert_eq!(env.job(&id).await.state, State::Succeeded);
    let bad = env
        .job(&JobId::parse("msg-2e1424d4-f796-459a-8184-9c92662be6da").unwrap())
        .await;
    assert_eq!(
        bad.options.queue, "default",
        "queue read from the source ARN"
    );
    // A raw body with the kind in a message attribute became a job.
    let created = env
        .job(&JobId::parse("msg-7c1f3d8e-5b2a-4c6d-9e0f-1a2b3c4d5e6f").unwrap())
        .await;
    assert_eq!(
        (created.kind.as_str(), created.args["n"].as_u64()),
        ("ok", Some(7))
    );
    assert_eq!(created.state, State::Enqueued);
}

/// A record whose processing fails (here the job a raw body asks for
/// cannot be written) comes back in `batchItemFailures` by its message id,
/// while the others in the batch are handled and acknowledged.
#[tokio::test]
async fn lambda_handler_reports_the_failing_record() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let worker = env.worker(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    let event = fixture_event(&env, &id).await;
    env.faults.fail("PutItem", "msg-7c1f3d8e");
    let resp = worker
        .handle_lambda(lambda_runtime::LambdaEvent::new(
            event,
            lambda_runtime::Context::default(),
        ))
        .await
        .unwrap();
    let failed: Vec<&str> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["7c1f3d8e-5b2a-4c6d-9e0f-1a2b3c4d5e6f"]);
    assert_eq!(env.job(&id).await.state, State::Succeeded);
    let invalid = JobId::parse("msg-2e1424d4-f796-459a-8184-9c92662be6da").unwrap();
    assert_eq!(env.job(&invalid).await.state, State::Failed);
    let not_created = JobId::parse("msg-7c1f3d8e-5b2a-4c6d-9e0f-1a2b3c4d5e6f").unwrap();
    assert!(env.client.get(&not_created).await.unwrap().is_none());
}

/// `JobFailure::permanent` (README: "skips the retries"): the job goes to
/// Failed after its one run, with the reason and the error recorded.
#[tokio::test]
async fn permanent_failures_skip_the_retries() {
    let env = TestEnv::new().await;
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = runs.clone();
    let poller = env.poller(hangar::Registry::new().raw("refuse", move |_args, _ctx| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(hangar::JobFailure::permanent(
                "the invoice number is malformed",
            ))
        }
    }));
    let id = env
        .client
        .enqueue(hangar::NewJob::new("refuse", serde_json::json!({})))
        .await
        .unwrap();
    let job = env.drive_to(&poller, &id, State::Failed, SHORT).await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(job.attempt, 1);
    assert_eq!(
        job.last_error.as_deref(),
        Some("the invoice number is malformed")
    );
    let last = job.history.last().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some("Failed without retry: the invoice number is malformed")
    );
    assert_eq!(
        states(&job),
        [State::Enqueued, State::Processing, State::Failed]
    );
}

/// The fixture SQS event: a wake-up for `id`, a body that is not a Hangar
/// message, and a raw body with the kind in a message attribute.
async fn fixture_event(env: &TestEnv, id: &JobId) -> aws_lambda_events::event::sqs::SqsEvent {
    let body = WakeUp::for_job(&env.job(id).await).to_body();
    let fixture = include_str!("../fixtures/sqs-event.json")
        .replace("{{STACK}}", &env.config.stack)
        .replace("{{WAKE_UP}}", &body.replace('"', "\\\""));
    serde_json::from_str(&fixture).unwrap()
}

/// A running handler sees that its job was deleted; its result is discarded.
#[tokio::test]
async fn handler_sees_deletion() {
    let env = TestEnv::new().await;
    let saw = Arc::new(AtomicU32::new(0));
    let s = saw.clone();
    let worker = env.worker(Registry::new().raw("watch", move |_, ctx| {
        let s = s.clone();
        async move {
            for _ in 0..100 {
                if ctx.is_cancelled().await.map_err(hangar::JobFailure::from)? {
                    s.store(1, Ordering::SeqCst);
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        }
    }));
    let id = env
        .client
        .enqueue(NewJob::new("watch", serde_json::json!({})))
        .await
        .unwrap();
    let body = WakeUp::for_job(&env.job(&id).await).to_body();
    let w = worker.clone();
    let run = tokio::spawn(async move { w.handle(&delivery("m", body), None).await });
    while env.job(&id).await.state != State::Processing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.client.delete(&id).await.unwrap();
    let out = run.await.unwrap();
    assert_eq!(out, Outcome::Ran(State::Deleted));
    assert_eq!(saw.load(Ordering::SeqCst), 1);
    let job = env.job(&id).await;
    assert_eq!(
        states(&job),
        [State::Enqueued, State::Processing, State::Deleted]
    );
}

/// A handler awaiting its cancellation signal next to its work stops soon
/// after its job is deleted, reading the job once per interval meanwhile
/// and not at all once the signal is dropped.
#[tokio::test]
async fn the_cancellation_signal_resolves_after_deletion_at_a_bounded_cost() {
    let env = TestEnv::new().await;
    let stopped = Arc::new(AtomicU32::new(0));
    let s = stopped.clone();
    let worker = env.worker(Registry::new().raw("long", move |_, ctx| {
        let s = s.clone();
        async move {
            tokio::select! {
                _ = ctx.cancelled_every(Duration::from_millis(200)) => {
                    s.store(1, Ordering::SeqCst);
                }
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            Ok(())
        }
    }));
    let id = env
        .client
        .enqueue(NewJob::new("long", serde_json::json!({})))
        .await
        .unwrap();
    let body = WakeUp::for_job(&env.job(&id).await).to_body();
    let w = worker.clone();
    let started = std::time::Instant::now();
    let run = tokio::spawn(async move { w.handle(&delivery("m", body), None).await });
    while env.job(&id).await.state != State::Processing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let it run a second: about five reads of the job, no more.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.calls.reset();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reads = env.calls.count("GetItem");
    assert!(
        (3..=6).contains(&reads),
        "{reads} reads in 1 s at one per 200 ms"
    );
    env.client.delete(&id).await.unwrap();
    let out = run.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "stopped early");
    assert_eq!(out, Outcome::Ran(State::Deleted));
    assert_eq!(stopped.load(Ordering::SeqCst), 1);
    // The signal is gone with the handler: no read after it.
    env.calls.reset();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(env.calls.count("GetItem"), 0);
}

/// Final jobs read as gone once past their expiry, before DynamoDB's TTL
/// sweep removes them.
#[tokio::test]
async fn expired_final_jobs_read_as_gone() {
    let clock = ManualClock::starting_now();
    let env = TestEnv::with(EnvOptions {
        retention: Duration::from_secs(60),
        ..EnvOptions::clock(clock.clone())
    })
    .await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    clock.advance(Duration::from_secs(59));
    assert!(env.client.get(&id).await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert!(env.client.get(&id).await.unwrap().is_none());
    assert!(matches!(
        env.client.requeue(&id).await,
        Err(hangar::Error::NotFound { .. })
    ));
}

fn clock_now(env: &TestEnv) -> chrono::DateTime<chrono::Utc> {
    env.clock.now()
}

/// Runs a poller in a task until the sender is used (as Ctrl-C or SIGTERM
/// stops a local worker).
fn run_until_told(
    poller: hangar::Poller,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<hangar::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        poller
            .run_until(async move {
                let _ = stopped.await;
            })
            .await
    });
    (stop, running)
}

/// Stopping a local worker (Ctrl-C, SIGTERM) while a job runs lets the job
/// finish and records its result.
#[tokio::test]
async fn stopping_a_worker_finishes_the_running_job() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Slow { ms: 1500 }).await.unwrap();
    let (stop, running) = run_until_told(poller);
    while Runs::get(&runs.slow) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Succeeded, "{}", history(&job));
    assert_eq!(
        env.queue_depth("default").await,
        (0, 0, 0),
        "message deleted"
    );
}

/// A stop that comes while a receive waits for messages lets that receive
/// finish: a message it brings is run, not left in flight until its
/// visibility timeout.
#[tokio::test]
async fn stopping_a_worker_runs_what_its_last_receive_brings() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs)).wait(Duration::from_secs(4));
    let (stop, running) = run_until_told(poller);
    // The poller is waiting on the empty queue when the stop comes; the
    // job arrives during that same wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = env.client.enqueue(&Ok1 { n: 7 }).await.unwrap();
    running.await.unwrap().unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Succeeded, "{}", history(&job));
    assert_eq!(Runs::get(&runs.ok), 1);
    assert_eq!(
        env.queue_depth("default").await,
        (0, 0, 0),
        "nothing left visible, in flight or delayed"
    );
}

/// A write DynamoDB rejects because a transaction holds the item (someone
/// adding a continuation to the job as it finishes) is made again: the
/// result is recorded after the conflict, the job runs once, and adding the
/// continuation succeeds too.
#[tokio::test]
async fn transaction_conflicts_are_retried() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();

    env.faults.conflict("UpdateItem", "Succeeded", 2);
    env.calls.reset();
    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(Runs::get(&runs.ok), 1, "{}", history(&job));
    assert_eq!(job.attempt, 1);
    assert_eq!(
        env.calls.count("UpdateItem"),
        4,
        "claim, two refused results, the result"
    );

    let parent = env.client.enqueue(&Ok1 { n: 2 }).await.unwrap();
    env.faults
        .conflict("TransactWriteItems", &format!("job#{parent}"), 2);
    let child = env
        .client
        .continue_with(&parent, &Ok1 { n: 3 }, hangar::ContinueOn::Succeeded)
        .await
        .unwrap();
    assert_eq!(env.job(&child).await.state, State::Awaiting);
    assert_eq!(env.job(&parent).await.continuations.len(), 1);
    env.drive_to(&poller, &child, State::Succeeded, SHORT).await;
}
