//! Limits across workers, measured on separate worker processes (the
//! `ledger-worker` binary) that record every run in a ledger file.

use std::collections::BTreeMap;
use std::time::Duration;

use hangar::{JobId, NewJob, State};
use hangar_integration_tests::TestEnv;
use serde_json::{Value, json};

/// Worker processes on `env`'s stack, each appending its runs to `ledger`.
fn start_workers(env: &TestEnv, ledger: &std::path::Path, n: usize) -> Vec<tokio::process::Child> {
    (0..n)
        .map(|_| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger-worker"))
                .envs(hangar_integration_tests::TEST_CREDENTIALS)
                .envs(env.stack_env())
                .env("HANGAR_POLLERS", "2")
                .env("HANGAR_TEST_LEDGER", ledger)
                .env("RUST_LOG", "warn")
                .kill_on_drop(true)
                .spawn()
                .expect("the ledger worker starts")
        })
        .collect()
}

/// Where the worker processes of a test append their runs.
fn ledger_path(env: &TestEnv) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hangar-ledger-{}.jsonl", env.config.stack))
}

/// `n` ledger jobs of `ms` milliseconds (argument `i`: their creation
/// order), each with the options `with` adds, created one by one.
async fn enqueue_ledger_jobs(
    env: &TestEnv,
    n: u64,
    ms: u64,
    with: impl Fn(NewJob) -> NewJob,
) -> Vec<JobId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let job = NewJob::new("ledger.run", json!({ "i": i, "ms": ms }));
        ids.push(env.client.enqueue(with(job)).await.unwrap());
    }
    ids
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
/// than 5 starts (claims).
#[tokio::test]
async fn a_rate_limit_holds_across_worker_processes() {
    let env = TestEnv::new().await;
    let ledger = ledger_path(&env);
    let per = Duration::from_secs(2);
    let ids = enqueue_ledger_jobs(&env, 30, 20, |job| job.rate("api", 5, per)).await;
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
    // A start is the claim: the job's move to Processing, recorded in its
    // history at the time the worker checked its slot. (The handler begins
    // right after; on a worker starved of CPU, later.)
    let mut per_window: BTreeMap<i64, usize> = BTreeMap::new();
    for job in env.client.get_many(&ids).await.unwrap() {
        let claims: Vec<_> = job
            .history
            .iter()
            .filter(|h| h.state == State::Processing)
            .collect();
        assert_eq!(claims.len(), 1, "{job:?}");
        *per_window
            .entry(claims[0].at.timestamp_millis() / per.as_millis() as i64)
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

/// The largest number of runs overlapping in time.
fn max_overlap(runs: &[&Value]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for r in runs {
        edges.push((r["start"].as_i64().unwrap(), 1));
        edges.push((r["end"].as_i64().unwrap(), -1));
    }
    // An end and a start at the same millisecond do not overlap.
    edges.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// 12 jobs of 300 ms under `concurrency("db", 2)` on two worker processes
/// (four pollers): every job runs once, never more than 2 at once, and the
/// waiting jobs are woken by the ending runs (no timer runs until the end).
#[tokio::test]
async fn a_concurrency_limit_holds_across_worker_processes() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(hangar_integration_tests::EnvOptions::clock(clock.clone())).await;
    let ledger = ledger_path(&env);
    let ids = enqueue_ledger_jobs(&env, 12, 300, |job| job.concurrency("db", 2)).await;
    let started = std::time::Instant::now();
    let _workers = start_workers(&env, &ledger, 2);
    wait_for(&env, &ids, State::Succeeded, Duration::from_secs(60)).await;
    let took = started.elapsed();

    let runs = read_ledger(&ledger);
    let _ = std::fs::remove_file(&ledger);
    let runs: Vec<&Value> = runs.iter().collect();
    assert_eq!(runs.len(), 12, "each job ran once: {runs:?}");
    let overlap = max_overlap(&runs);
    println!(
        "figure: concurrency 2, 12 jobs of 300 ms, 2 worker processes: at most {overlap} at once, done in {took:?}"
    );
    assert!(overlap <= 2, "{overlap} runs at once");
    assert_eq!(overlap, 2, "both slots were used");
    // The key is free again and nobody waits. The count is a hint: one
    // that a race left over (a wake-up that listed its job as that job was
    // being claimed) is cleared by the timer's next look at the key.
    let key = env.client.concurrency_key("db").await.unwrap();
    assert!(key.live.is_empty(), "{key:?}");
    let listed = env.client.waiting_jobs("db", 10, None).await.unwrap();
    assert!(listed.jobs.is_empty(), "{:?}", listed.jobs);
    println!(
        "figure: the key's count of waiting jobs when the last ended: {}",
        key.waiting
    );
    let key = timer_looks_again(&env, &clock, "db").await;
    assert_eq!(key.waiting, 0, "{key:?}");
}

/// Moves the clock past the timer's next look at `key`, ticks, and reads
/// the key.
async fn timer_looks_again(
    env: &TestEnv,
    clock: &hangar::OffsetClock,
    key: &str,
) -> hangar::limits::SlotState {
    clock.advance(hangar::limits::SLOT_RECHECK + Duration::from_secs(1));
    hangar::Timer::new(&env.client)
        .tick(Duration::from_secs(20))
        .await
        .unwrap();
    env.client.concurrency_key(key).await.unwrap()
}

/// A stack on a clock the test moves, where a run that vanished holds the
/// only slot of `mutex` (its lease: 40 s) and one job, polled by `poller`
/// (of `registry`, handling `m.job`), waits for it.
pub(crate) async fn waiting_behind_a_ghost(
    registry: hangar::Registry,
) -> (TestEnv, hangar::OffsetClock, hangar::Poller, JobId) {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(hangar_integration_tests::EnvOptions {
        shards: Some(1),
        ..hangar_integration_tests::EnvOptions::clock(clock.clone())
    })
    .await;
    env.client
        .take_slot_for_test("mutex", 1, "ghost", Duration::from_secs(40))
        .await
        .unwrap();
    let poller = env.poller(registry);
    let id = env
        .client
        .enqueue(NewJob::new("m.job", json!({})).concurrency("mutex", 1))
        .await
        .unwrap();
    while poller.poll_once().await.unwrap() > 0 {}
    let waiting = env.job(&id).await;
    assert_eq!(waiting.state, State::Enqueued);
    assert_eq!(waiting.waiting_for.as_deref(), Some("mutex"));
    (env, clock, poller, id)
}

/// Past the ghost's lease and the timer's next look at the key, one tick
/// wakes the waiting job, which then runs.
pub(crate) async fn tick_wakes_and_runs(
    env: &TestEnv,
    clock: &hangar::OffsetClock,
    poller: &hangar::Poller,
    id: &JobId,
) {
    clock.advance(hangar::limits::SLOT_RECHECK + Duration::from_secs(1));
    let report = hangar::Timer::new(&env.client)
        .tick(Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(report.slots_woken, 1, "{report:?}");
    while poller.poll_once().await.unwrap() > 0 {}
    let done = env.job(id).await;
    assert_eq!((done.state, done.waiting_for), (State::Succeeded, None));
}

/// A slot held by a run that crashed (its lease passed) is freed for the
/// next job; the timer wakes a waiting job if no ending run did.
#[tokio::test]
async fn a_crashed_runs_slot_is_freed_when_its_lease_passes() {
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r = ran.clone();
    let registry = hangar::Registry::new().raw("m.job", move |_, _| {
        let r = r.clone();
        async move {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    });
    let (env, clock, poller, id) = waiting_behind_a_ghost(registry).await;
    assert_eq!(
        ran.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the slot is taken"
    );
    let key = env.client.concurrency_key("mutex").await.unwrap();
    assert_eq!(key.waiting, 1, "{key:?}");

    tick_wakes_and_runs(&env, &clock, &poller, &id).await;
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The count of a key's waiting jobs is a hint: a decrement whose answer
/// was lost is made again by the SDK, and the count drifts below the jobs
/// listed. A job still listed when the count reads 0 is found by the
/// timer from the key's list and woken, not left waiting for good.
#[tokio::test]
async fn a_waiting_job_is_woken_when_its_keys_count_drifted_to_zero() {
    let registry = hangar::Registry::new().raw("m.job", |_, _| async { Ok(()) });
    let (env, clock, poller, id) = waiting_behind_a_ghost(registry).await;
    // The drift: one decrement too many.
    env.ddb
        .update_item()
        .table_name(&env.config.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("conc#mutex".into()),
        )
        .update_expression("SET waiting = :w")
        .expression_attribute_values(
            ":w",
            aws_sdk_dynamodb::types::AttributeValue::N("-1".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.client.concurrency_key("mutex").await.unwrap().waiting,
        0
    );

    tick_wakes_and_runs(&env, &clock, &poller, &id).await;
    // Nobody waits now: the timer's next look clears the key's count.
    let key = timer_looks_again(&env, &clock, "mutex").await;
    assert_eq!(key.waiting, 0, "{key:?}");
    let year_2100 = 4_102_444_800_000;
    assert!(
        key.look_ms.is_some_and(|at| at > year_2100),
        "never looked at: {key:?}"
    );
}

/// 15 jobs under `ordered("acct")` on two worker processes: they run one
/// at a time, in the order they were created.
#[tokio::test]
async fn ordered_jobs_run_one_at_a_time_in_creation_order_across_processes() {
    let env = TestEnv::new().await;
    let ledger = ledger_path(&env);
    let ids = enqueue_ledger_jobs(&env, 15, 50, |job| job.ordered("acct")).await;
    let seqs: Vec<u64> = env
        .client
        .get_many(&ids)
        .await
        .unwrap()
        .iter()
        .map(|j| j.sequence.unwrap())
        .collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<u64>>());
    let started = std::time::Instant::now();
    let _workers = start_workers(&env, &ledger, 2);
    wait_for(&env, &ids, State::Succeeded, Duration::from_secs(60)).await;
    let took = started.elapsed();
    let runs = read_ledger(&ledger);
    let _ = std::fs::remove_file(&ledger);
    let mut runs: Vec<&Value> = runs.iter().collect();
    assert_eq!(runs.len(), 15, "each job ran once: {runs:?}");
    assert_eq!(max_overlap(&runs), 1, "one at a time");
    runs.sort_by_key(|r| r["start"].as_i64().unwrap());
    let order: Vec<u64> = runs
        .iter()
        .map(|r| r["args"]["i"].as_u64().unwrap())
        .collect();
    println!(
        "figure: ordered key, 15 jobs of 50 ms, 2 worker processes: run order {order:?}, done in {took:?}"
    );
    assert_eq!(order, (0..15).collect::<Vec<u64>>(), "creation order");
}

/// A number given out without a job (a creation cut short) holds up its
/// key only for the grace period: then the timer skips it.
#[tokio::test]
async fn a_missing_ordered_job_is_skipped_after_the_grace_period() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(hangar_integration_tests::EnvOptions {
        shards: Some(1),
        ..hangar_integration_tests::EnvOptions::clock(clock.clone())
    })
    .await;
    let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = ran.clone();
    let poller = env.poller(hangar::Registry::new().raw("o.job", move |args, _| {
        let r = r.clone();
        async move {
            r.lock().unwrap().push(args["n"].as_u64().unwrap());
            Ok(())
        }
    }));
    let first = env
        .client
        .enqueue(NewJob::new("o.job", json!({"n": 1})).ordered("gap"))
        .await
        .unwrap();
    assert_eq!(env.client.number_for_test("gap", 1).await.unwrap(), 2);
    let third = env
        .client
        .enqueue(NewJob::new("o.job", json!({"n": 3})).ordered("gap"))
        .await
        .unwrap();
    for _ in 0..3 {
        while poller.poll_once().await.unwrap() > 0 {}
    }
    assert_eq!(env.job(&first).await.state, State::Succeeded);
    let waiting = env.job(&third).await;
    assert_eq!(waiting.waiting_for.as_deref(), Some("gap"), "{waiting:?}");
    assert_eq!(*ran.lock().unwrap(), vec![1]);

    // Within the grace period the timer leaves it waiting; after, it skips.
    let timer = hangar::Timer::new(&env.client);
    clock.advance(hangar::limits::SLOT_RECHECK + Duration::from_secs(1));
    assert_eq!(
        timer
            .tick(Duration::from_secs(20))
            .await
            .unwrap()
            .slots_woken,
        0
    );
    clock.advance(env.config.grace);
    let report = timer.tick(Duration::from_secs(20)).await.unwrap();
    assert_eq!(report.slots_woken, 1, "{report:?}");
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(env.job(&third).await.state, State::Succeeded);
    assert_eq!(*ran.lock().unwrap(), vec![1, 3]);
}

#[tokio::test]
async fn ordering_is_refused_where_it_cannot_hold() {
    let env = TestEnv::new().await;
    let err = env
        .client
        .enqueue(NewJob::new("k", json!({})).ordered("a").concurrency("a", 2))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    let parent = env
        .client
        .enqueue(NewJob::new("k", json!({})))
        .await
        .unwrap();
    let err = env
        .client
        .continue_with(
            &parent,
            NewJob::new("k", json!({})).ordered("a"),
            hangar::ContinueOn::Succeeded,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be ordered"), "{err}");
}

/// Jobs waiting for a key's slot, or an ordered job's turn, are Enqueued
/// jobs: listed with the others (each naming its key), counted with them,
/// and listed, a page at a time, by their key.
#[tokio::test]
async fn waiting_jobs_are_listed_and_counted_as_enqueued() {
    let env = TestEnv::new().await;
    let client = &env.client;
    let mut waiting = env.jobs_waiting_on("db", 4).await;
    let poller = env.poller(hangar::Registry::new().raw("w", |_, _| async { Ok(()) }));
    // Two ordered jobs, both behind a run of their key that holds it.
    client
        .take_slot_for_test("acct-9", 1, "held", Duration::from_secs(60))
        .await
        .unwrap();
    for n in 0..2 {
        waiting.push(
            client
                .enqueue(NewJob::new("w", json!({ "o": n })).ordered("acct-9"))
                .await
                .unwrap(),
        );
    }
    let ready = client.enqueue(NewJob::new("w", json!({}))).await.unwrap();
    while poller.poll_once().await.unwrap() > 0 {}
    for id in &waiting {
        assert!(env.job(id).await.waiting_for.is_some(), "{id} waits");
    }
    let ready_job = env.job(&ready).await;
    assert_eq!(ready_job.state, State::Succeeded);

    let listed = client.list(State::Enqueued, None, 50).await.unwrap();
    let mut ids: Vec<&JobId> = listed.iter().map(|j| &j.id).collect();
    ids.sort();
    let mut expected: Vec<&JobId> = waiting.iter().collect();
    expected.sort();
    assert_eq!(ids, expected, "every waiting job is listed as Enqueued");
    for j in &listed {
        let key = if j.options.ordered.is_some() {
            "acct-9"
        } else {
            "db"
        };
        assert_eq!(j.waiting_for.as_deref(), Some(key), "{}", j.id);
    }
    let counts: BTreeMap<State, hangar::Count> =
        client.counts().await.unwrap().into_iter().collect();
    assert_eq!(counts[&State::Enqueued].n, 6, "{counts:?}");

    let first = client.waiting_jobs("db", 3, None).await.unwrap();
    assert_eq!(first.jobs.len(), 3);
    assert_eq!(
        first.jobs.iter().map(|j| &j.id).collect::<Vec<_>>(),
        waiting[..3].iter().collect::<Vec<_>>(),
        "oldest first"
    );
    let rest = client
        .waiting_jobs("db", 3, first.next.as_ref())
        .await
        .unwrap();
    assert_eq!(rest.jobs.len(), 1);
    assert_eq!(rest.jobs[0].id, waiting[3]);
    assert!(rest.next.is_none());
    let ordered = client.waiting_jobs("acct-9", 10, None).await.unwrap();
    assert_eq!(ordered.jobs.len(), 2);
    assert!(
        ordered.jobs[0].sequence < ordered.jobs[1].sequence,
        "by number"
    );

    // A small page of the Enqueued listing goes on through every key.
    let mut seen = Vec::new();
    let mut cursor = None;
    let query = hangar::ListQuery::state(State::Enqueued);
    loop {
        let page = client.list_page(&query, 2, cursor.as_ref()).await.unwrap();
        assert!(!page.keys_left_out);
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen.iter().collect::<Vec<_>>(), expected, "each once");
}
