//! Embedded-metric lines from the worker and the timer: what they count,
//! and that they cost no AWS call.

use std::time::Duration;

use hangar::emf::Emf;
use hangar::handler::JobFailure;
use hangar::{NewJob, Registry, RetryPolicy, Timer, Worker};
use hangar_integration_tests::TestEnv;
use serde_json::{Value, json};

fn registry() -> Registry {
    Registry::new()
        .raw("m.ok", |_, _| async { Ok(()) })
        .raw("m.flaky", |_, _| async {
            Err(JobFailure::msg("try again"))
        })
        .raw("m.bad", |_, _| async {
            Err(JobFailure::permanent("cannot ever work"))
        })
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn the_worker_writes_one_line_per_queue_and_kind_per_batch() {
    let env = TestEnv::new().await;
    let (emf, lines) = Emf::capture(&env.config.stack);
    let worker = Worker::new(&env.client, registry()).with_metrics(emf);
    let poller = hangar::Poller::new(worker, "default").wait(Duration::from_secs(1));
    for _ in 0..3 {
        env.client
            .enqueue(NewJob::new("m.ok", json!({})))
            .await
            .unwrap();
    }
    env.client
        .enqueue(NewJob::new("m.flaky", json!({})).retry(RetryPolicy {
            delays_secs: vec![600],
            ..Default::default()
        }))
        .await
        .unwrap();
    env.client
        .enqueue(NewJob::new("m.bad", json!({})))
        .await
        .unwrap();
    let calls_before = env.calls.counts();
    env.calls.reset();
    let mut seen = 0;
    while seen < 5 {
        seen += poller.poll_once().await.unwrap();
    }
    // Metrics cost no request: the worker made its usual calls only.
    let calls = env.calls.counts();
    assert!(
        calls.keys().all(|op| [
            "ReceiveMessage",
            "DeleteMessageBatch",
            "UpdateItem",
            "BatchGetItem",
            "SendMessage"
        ]
        .contains(&op.as_str())),
        "{calls:?} (before: {calls_before:?})"
    );

    let all = parse(&lines.lock().unwrap());
    let total = |kind: &str, metric: &str| -> u64 {
        all.iter()
            .filter(|v| v["Kind"] == kind)
            .filter_map(|v| v[metric].as_u64())
            .sum()
    };
    assert_eq!(total("m.ok", "JobsStarted"), 3, "{all:?}");
    assert_eq!(total("m.ok", "JobsSucceeded"), 3);
    assert_eq!(total("m.flaky", "JobsRetried"), 1);
    assert_eq!(total("m.flaky", "JobsFailed"), 0);
    assert_eq!(total("m.bad", "JobsFailed"), 1);
    for v in &all {
        assert_eq!(v["Stack"], env.config.stack.as_str());
        assert_eq!(v["Queue"], "default");
        let durations = v["Duration"].as_array().unwrap();
        let latencies = v["QueueLatency"].as_array().unwrap();
        assert_eq!(durations.len() as u64, v["JobsStarted"].as_u64().unwrap());
        assert!(
            latencies
                .iter()
                .all(|l| l.as_f64().unwrap() >= 0.0 && l.as_f64().unwrap() < 60_000.0),
            "{v}"
        );
    }
}

#[tokio::test]
async fn the_timer_writes_a_line_for_a_tick_that_did_something() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(hangar_integration_tests::EnvOptions::clock(clock.clone())).await;
    let (emf, lines) = Emf::capture(&env.config.stack);
    let timer = Timer::new(&env.client).with_metrics(emf);
    env.client
        .schedule(NewJob::new("m.ok", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    timer.tick(Duration::from_secs(20)).await.unwrap();
    assert!(
        lines.lock().unwrap().is_empty(),
        "an idle tick writes nothing"
    );
    // Within the hand-off's reach: the timer sends it.
    clock.advance(Duration::from_secs(50 * 60));
    let r = timer.tick(Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.handed_off.len(), 1);
    let all = parse(&lines.lock().unwrap());
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["HandedOff"], 1);
    assert_eq!(
        all[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Stack"]])
    );
}
