//! A large batch on the emulator through the real SDK: its creation (batch
//! writes), then its run by local pollers to completion, with the calls
//! each stage made and what a job cost. Completion is detected by the
//! counters written with each job's finishing write: the run reads the
//! batch once, whatever its size.
//!
//! Run: `bash tests/bench.sh batch [JOBS] [--create-only]` (default 10,000
//! jobs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hangar::{Batch, ContinueOn, Registry, run};
use hangar_integration_tests::{EnvOptions, TestEnv};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let create_only = args.iter().any(|a| a == "--create-only");
    // A visibility timeout that outlasts a batch of deliveries on a busy
    // emulator (the tests' 2 s would send some to the dead-letter queue).
    let env = TestEnv::with(EnvOptions {
        stream: true,
        visibility: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    println!(
        "batch of {jobs} jobs, emulator at {}",
        hangar_integration_tests::endpoint()
    );
    let ran = Arc::new(AtomicU64::new(0));
    let counter = ran.clone();
    let registry = Registry::new().raw("bench.batch", move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    });
    let batch = (0..jobs).fold(Batch::new().description("bench"), |b, n| {
        b.enqueue(hangar::NewJob::new(
            "bench.batch",
            serde_json::json!({ "n": n }),
        ))
        .unwrap()
    });
    let batch = batch
        .continue_with(
            hangar::NewJob::new("bench.batch", serde_json::json!({ "then": true })),
            ContinueOn::Succeeded,
        )
        .unwrap();

    let meter = env.meter_start().await;
    env.calls.reset();
    let started = Instant::now();
    let id = env.client.start_batch(batch).await.unwrap();
    let created = started.elapsed();
    println!(
        "created in {:.1} s ({:.0} jobs/s); calls: {:?}",
        created.as_secs_f64(),
        jobs as f64 / created.as_secs_f64(),
        env.calls.counts()
    );
    if create_only {
        return;
    }

    env.calls.reset();
    let worker = env.worker(registry);
    let started = Instant::now();
    let done = {
        let ran = ran.clone();
        async move {
            while ran.load(Ordering::SeqCst) < jobs + 1 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    run::poll(&worker, &["default".to_owned()], 8, done).await;
    let elapsed = started.elapsed();
    let calls = env.calls.counts();
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert_eq!((b.succeeded, b.open), (jobs, 0), "{b:?}");
    assert!(b.released, "{b:?}");
    println!(
        "ran in {:.1} s ({:.0} jobs/s, 8 pollers); calls: {calls:?}",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "reads of the batch while it ran: {} GetItem (the completing job's release)",
        calls.get("GetItem").copied().unwrap_or(0)
    );
    let bill = env.bill(&meter).await;
    let per = bill.per(jobs as usize);
    println!(
        "per job: {:.2} WRU ({:.2} table, {:.2} index, {:.2} refused), {:.3} RRU",
        per.wru(),
        per.table_wru,
        per.index_wru,
        per.failed_wru,
        per.rru
    );
}
