//! Limits across workers, measured on separate worker processes (the
//! `ledger-worker` binary) that record every run in a ledger file.

use std::collections::BTreeMap;
use std::time::Duration;

use hangar::{JobId, NewJob, State};
use hangar_integration_tests::TestEnv;
use serde_json::{Value, json};

/// Worker processes on `env`'s stack, each appending its runs to `ledger`.
fn start_workers(env: &TestEnv, ledger: &std::path::Path, n: usize) -> Vec<tokio::process::Child> {
    let queues: Vec<String> = env
        .config
        .queue_urls
        .iter()
        .map(|(q, url)| format!("{q}={url}"))
        .collect();
    (0..n)
        .map(|_| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger-worker"))
                .env("AWS_ENDPOINT_URL", hangar_integration_tests::endpoint())
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("HANGAR_STACK", &env.config.stack)
                .env("HANGAR_TABLE", &env.config.table)
                .env("HANGAR_QUEUE_URLS", queues.join(","))
                .env("HANGAR_POLLERS", "2")
                .env("HANGAR_TEST_LEDGER", ledger)
                .env("RUST_LOG", "warn")
                .kill_on_drop(true)
                .spawn()
                .expect("the ledger worker starts")
        })
        .collect()
}

fn read_ledger(ledger: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(ledger)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a ledger line"))
        .collect()
}

async fn wait_for(env: &TestEnv, ids: &[JobId], state: State, within: Duration) {
    let start = std::time::Instant::now();
    loop {
        let jobs = env.client.get_many(ids).await.unwrap();
        if jobs.iter().filter(|j| j.state == state).count() == ids.len() {
            return;
        }
        assert!(
            start.elapsed() < within,
            "not all {state} in {within:?}: {:?}",
            jobs.iter().map(|j| j.state).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// 30 jobs under `rate("api", 5, 2 s)` on two worker processes: every job
/// runs once, and no 2-second window (aligned as the limiter's) holds more
/// than 5 starts.
#[tokio::test]
async fn a_rate_limit_holds_across_worker_processes() {
    let env = TestEnv::new().await;
    let ledger = std::env::temp_dir().join(format!("hangar-ledger-{}.jsonl", env.config.stack));
    let per = Duration::from_secs(2);
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            env.client
                .enqueue(NewJob::new("ledger.run", json!({ "i": i, "ms": 20 })).rate("api", 5, per))
                .await
                .unwrap(),
        );
    }
    // A job outside the limit is not held up by it.
    let free = env
        .client
        .enqueue(NewJob::new("ledger.run", json!({ "i": "free" })))
        .await
        .unwrap();
    let _workers = start_workers(&env, &ledger, 2);
    wait_for(&env, &ids, State::Succeeded, Duration::from_secs(60)).await;
    wait_for(&env, &[free], State::Succeeded, Duration::from_secs(5)).await;

    let runs = read_ledger(&ledger);
    let _ = std::fs::remove_file(&ledger);
    let limited: Vec<&Value> = runs.iter().filter(|r| r["args"]["i"].is_u64()).collect();
    assert_eq!(limited.len(), 30, "each job ran once: {runs:?}");
    let mut per_window: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &limited {
        *per_window
            .entry(r["start"].as_i64().unwrap() / per.as_millis() as i64)
            .or_default() += 1;
    }
    let pids: std::collections::BTreeSet<u64> =
        runs.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    println!(
        "figure: rate 5 per 2 s, 30 jobs, {} worker processes: starts per window {:?}",
        pids.len(),
        per_window.values().collect::<Vec<_>>()
    );
    assert!(
        per_window.values().all(|&n| n <= 5),
        "more than 5 starts in a window: {per_window:?}"
    );
    assert!(
        per_window.len() >= 6,
        "30 starts need 6 windows: {per_window:?}"
    );
}

#[tokio::test]
async fn rate_limits_out_of_bounds_are_refused() {
    let env = TestEnv::new().await;
    for (job, what) in [
        (
            NewJob::new("k", json!({})).rate("", 1, Duration::from_secs(1)),
            "key",
        ),
        (
            NewJob::new("k", json!({})).rate("a b", 1, Duration::from_secs(1)),
            "key",
        ),
        (
            NewJob::new("k", json!({})).rate("a", 0, Duration::from_secs(1)),
            "at least 1",
        ),
        (
            NewJob::new("k", json!({})).rate("a", 1, Duration::from_millis(10)),
            "1 s to 1 day",
        ),
        (
            NewJob::new("k", json!({})).rate("a", 1, Duration::from_secs(2 * 86_400)),
            "1 s to 1 day",
        ),
    ] {
        let err = env.client.enqueue(job).await.unwrap_err();
        assert!(matches!(err, hangar::Error::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
}
