//! Faults between Hangar and AWS, injected by the proxy
//! (`hangar_integration_tests::proxy`) on the way to the emulator: the
//! promises hold, and throttling slows jobs down without failing them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{JobId, Registry, State, Worker, run};
use hangar_integration_tests::proxy::{Fault, Proxy, Rule};
use hangar_integration_tests::{TestEnv, endpoint, history};

type Ledger = Arc<Mutex<HashMap<JobId, u32>>>;

fn counting(ledger: Ledger) -> Registry {
    Registry::new().raw("count", move |_, ctx| {
        *ledger.lock().unwrap().entry(ctx.id().clone()).or_default() += 1;
        async { Ok(()) }
    })
}

/// Runs `worker` on the default queue until `ids` are all in a final
/// state, or panics after `limit`.
async fn run_until_done(env: &TestEnv, worker: &Worker, ids: &[JobId], limit: Duration) {
    let started = std::time::Instant::now();
    let done = async {
        loop {
            let jobs = env.client.get_many(ids).await.unwrap();
            if jobs.len() == ids.len() && jobs.iter().all(|j| j.state.is_final()) {
                return;
            }
            if started.elapsed() > limit {
                let open: Vec<String> = jobs
                    .iter()
                    .filter(|j| !j.state.is_final())
                    .map(history)
                    .collect();
                panic!("not done within {limit:?}:\n{}", open.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    run::poll(worker, &["default".to_owned()], 2, done).await;
}

/// A third of DynamoDB requests throttled and some answered 500, a fifth
/// of receives and deletes answered 500, a third of sends delivered twice
/// and some throttled: every job still
/// Succeeds, none Failed or retried for it (the SDK waits and tries
/// again), each ran at least once, and the proxy counted every kind of
/// fault.
#[tokio::test]
async fn throttling_and_errors_slow_jobs_down_but_fail_none() {
    let env = TestEnv::new().await;
    let proxy = Proxy::start(
        &endpoint(),
        0,
        vec![
            Rule::new("DynamoDB", &[], 0.3, Fault::Throttle),
            Rule::new("DynamoDB", &[], 0.1, Fault::Error),
            Rule::new(
                "SQS",
                &["ReceiveMessage", "DeleteMessageBatch"],
                0.2,
                Fault::Error,
            ),
            Rule::new(
                "SQS",
                &["SendMessage", "SendMessageBatch"],
                0.3,
                Fault::Duplicate,
            ),
            Rule::new(
                "SQS",
                &["SendMessage", "SendMessageBatch"],
                0.2,
                Fault::Throttle,
            ),
        ],
    )
    .await
    .unwrap();
    let client = env.client_via(&proxy.url()).await;
    let ledger = Ledger::default();
    let worker = Worker::new(&client, counting(ledger.clone()));
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            client
                .enqueue(hangar::NewJob::new("count", serde_json::json!({ "n": n })))
                .await
                .unwrap(),
        );
    }
    run_until_done(&env, &worker, &ids, Duration::from_secs(90)).await;
    for job in env.client.get_many(&ids).await.unwrap() {
        assert_eq!(job.state, State::Succeeded, "{}", history(&job));
        assert!(
            job.history
                .iter()
                .all(|h| !matches!(h.state, State::Scheduled | State::Failed)),
            "no retry for throttling: {}",
            history(&job)
        );
    }
    let ran = ledger.lock().unwrap().clone();
    assert!(ids.iter().all(|id| ran.get(id).is_some_and(|n| *n >= 1)));
    println!(
        "figure: faults injected: {:?} into requests {:?}",
        proxy.counts(),
        proxy.requests()
    );
    for fault in ["throttle", "error", "duplicate"] {
        assert!(proxy.count(fault) > 0, "{fault}: {:?}", proxy.counts());
    }
}

/// The claim is written but its answer lost (the connection breaks): the
/// SDK sends it again, the condition refuses it, and the item it returns
/// shows the claim is this worker's own, so the job runs at once (not after
/// its lease), and once.
#[tokio::test]
async fn a_lost_claim_answer_still_runs_the_job_once() {
    let env = TestEnv::new().await;
    let proxy = Proxy::start(&endpoint(), 0, vec![]).await.unwrap();
    let client = env.client_via(&proxy.url()).await;
    let ledger = Ledger::default();
    let worker = Worker::new(&client, counting(ledger.clone()));
    let id = env
        .client
        .enqueue(hangar::NewJob::new("count", serde_json::json!({})))
        .await
        .unwrap();
    proxy.set_rules(vec![
        Rule::new("DynamoDB", &["UpdateItem"], 1.0, Fault::Drop).times(1),
    ]);
    run_until_done(
        &env,
        &worker,
        std::slice::from_ref(&id),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(proxy.count("drop"), 1, "{:?}", proxy.counts());
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Succeeded, "{}", history(&job));
    assert_eq!(job.attempt, 1, "{}", history(&job));
    assert_eq!(ledger.lock().unwrap()[&id], 1);
}
