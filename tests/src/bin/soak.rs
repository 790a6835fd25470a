//! The soak: thousands of jobs of every kind run by several worker
//! processes and the timer while the fault proxy breaks requests and a
//! chaos loop kills workers mid-job; then a checker holds the run ledger
//! and the store to Hangar's promises. `bash tests/soak.sh [SIZE]`.
//!
//! Workers are `ledger-worker` processes (their runs go to a ledger:
//! start lines, and end lines with the outcome), pointed at the proxy. The
//! timer ticks in this process, through the proxy too, with a 15 s grace
//! period so that repairs happen within the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar::{
    Batch, Client, ContinueOn, JobId, JobRecord, NewJob, RecurringOptions, RetryPolicy, State,
    Timer,
};
use hangar_integration_tests::proxy::{Fault, Proxy, Rule};
use hangar_integration_tests::{EnvOptions, TestEnv, endpoint, sdk_config_at};
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(15);
/// A worker process is killed (SIGKILL) and replaced this often.
const CHAOS_EVERY: Duration = Duration::from_secs(6);
/// Worker processes.
const WORKERS: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(5);
const CONC_LIMIT: usize = 3;
const RATE: (u32, u64) = (20, 1000);

/// What a job must end as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Succeeded,
    Failed,
    Deleted,
    /// A continuation whose parent Failed: it waits, and never runs.
    Awaiting,
    /// An occurrence of the recurring job: it runs, or is deleted with the
    /// recurring job before it starts.
    RanOrDeleted,
}

#[derive(Debug, Clone, Default)]
struct Tags {
    conc: bool,
    rate: bool,
    /// Runs allowed by its retry policy.
    max_runs: u32,
    /// Must not have run at all.
    never_runs: bool,
    /// Fired by the recurring job (created ahead of its time: no latency).
    occurrence: bool,
}

#[derive(Default)]
struct Plan {
    want: HashMap<JobId, (Want, Tags)>,
    batch_then: Option<JobId>,
    batch_jobs: Vec<JobId>,
    bad_bodies: usize,
    /// Jobs deleted or rescheduled after their creation, by the state they
    /// were in ("rescheduled refused while Processing": a running job
    /// cannot be rescheduled).
    moved: BTreeMap<String, usize>,
    /// Missed occurrences of the recurring job its misfire policy skipped.
    skipped: usize,
}

fn ledger_job(ms: u64) -> NewJob {
    job(json!({ "ms": ms }))
}

fn job(args: Value) -> NewJob {
    NewJob::new("ledger.run", args)
        .timeout(TIMEOUT)
        .retry(RetryPolicy {
            attempts: 3,
            delays_secs: vec![1],
            ..RetryPolicy::default()
        })
}

struct Workers {
    env: Vec<(&'static str, String)>,
    children: Vec<tokio::process::Child>,
    kills: Vec<(u32, i64)>,
}

impl Workers {
    fn spawn(&mut self) {
        // Built beside this binary (same package).
        let exe = std::env::current_exe().expect("this binary's path");
        let worker = exe.with_file_name("ledger-worker");
        let child = tokio::process::Command::new(worker)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .kill_on_drop(true)
            .spawn()
            .expect("a ledger worker starts");
        self.children.push(child);
    }

    async fn kill_one(&mut self) {
        let i = rand::random_range(0..self.children.len());
        let mut child = self.children.swap_remove(i);
        let pid = child.id().unwrap_or(0);
        let _ = child.start_kill();
        let _ = child.wait().await;
        self.kills
            .push((pid, chrono::Utc::now().timestamp_millis()));
        self.spawn();
    }
}

fn read_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::main]
async fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let env = TestEnv::with(EnvOptions {
        visibility: Duration::from_secs(20),
        shards: Some(2),
        // As deployed (the templates' MaxReceiveCount).
        max_receive_count: 5,
        ..Default::default()
    })
    .await;
    let proxy = Proxy::start(
        &endpoint(),
        0,
        vec![
            Rule::new("DynamoDB", &[], 0.05, Fault::Throttle),
            Rule::new("DynamoDB", &[], 0.02, Fault::Error),
            Rule::new(
                "DynamoDB",
                &["UpdateItem", "TransactWriteItems"],
                0.02,
                Fault::Drop,
            ),
            Rule::new("DynamoDB", &[], 0.03, Fault::Latency { ms: 50 }),
            Rule::new(
                "SQS",
                &["SendMessage", "SendMessageBatch"],
                0.05,
                Fault::Duplicate,
            ),
            Rule::new(
                "SQS",
                &["SendMessage", "SendMessageBatch"],
                0.03,
                Fault::Drop,
            ),
            Rule::new("SQS", &[], 0.03, Fault::Throttle),
            Rule::new(
                "SQS",
                &["ReceiveMessage", "DeleteMessageBatch"],
                0.02,
                Fault::Error,
            ),
        ],
    )
    .await
    .expect("the proxy starts");
    let mut config = env.config.clone();
    config.grace = GRACE;
    let client = Client::new(&sdk_config_at(&proxy.url()).await, config);
    let dir = std::env::temp_dir().join(format!("hangar-soak-{}", env.config.stack));
    std::fs::create_dir_all(&dir).unwrap();
    let (ledger, starts) = (dir.join("ledger.jsonl"), dir.join("starts.jsonl"));
    let mut worker_env = env.stack_env();
    worker_env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    worker_env.extend([
        ("AWS_ENDPOINT_URL", proxy.url()),
        ("HANGAR_GRACE_SECONDS", GRACE.as_secs().to_string()),
        ("HANGAR_TEST_LEDGER", ledger.display().to_string()),
        ("HANGAR_TEST_STARTS", starts.display().to_string()),
        ("HANGAR_POLLERS", "2".to_owned()),
        ("RUST_LOG", "error".to_owned()),
    ]);
    worker_env.extend(
        hangar_integration_tests::TEST_CREDENTIALS
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned())),
    );
    let workers = Arc::new(tokio::sync::Mutex::new(Workers {
        env: worker_env,
        children: Vec::new(),
        kills: Vec::new(),
    }));
    for _ in 0..WORKERS {
        workers.lock().await.spawn();
    }
    println!(
        "soak: {size} jobs, stack {}, {WORKERS} worker processes, emulator {} behind proxy {}",
        env.config.stack,
        endpoint(),
        proxy.url()
    );

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped =
        |stop: &std::sync::atomic::AtomicBool| stop.load(std::sync::atomic::Ordering::SeqCst);
    let timer = Timer::new(&client);
    let skipped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let timer_task = {
        let (stop, skipped) = (stop.clone(), skipped.clone());
        tokio::spawn(async move {
            while !stopped(&stop) {
                let t0 = Instant::now();
                let tick = timer.tick(Duration::from_secs(10)).await;
                if let Ok(r) = &tick {
                    skipped.fetch_add(r.skipped, std::sync::atomic::Ordering::SeqCst);
                }
                match tick {
                    Ok(r)
                        if r.unparked > 0
                            || r.errors > 0
                            || !r.complete
                            || std::env::var("SOAK_TICKS").is_ok() =>
                    {
                        eprintln!(
                            "tick at {}: {:.1} s, unparked {}, errors {}, complete {}",
                            chrono::Utc::now().format("%H:%M:%S%.3f"),
                            t0.elapsed().as_secs_f64(),
                            r.unparked,
                            r.errors,
                            r.complete
                        )
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("tick failed: {}", hangar::error::error_chain(&e)),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let chaos_task = {
        let (stop, workers) = (stop.clone(), workers.clone());
        tokio::spawn(async move {
            while !stopped(&stop) {
                tokio::time::sleep(CHAOS_EVERY).await;
                workers.lock().await.kill_one().await;
            }
        })
    };

    // Reads for the checks go straight to the emulator, past the proxy
    // and the test environment's call recorders.
    let direct = env.client_via(&endpoint()).await;
    let started = Instant::now();
    let plan = Arc::new(Mutex::new(Plan::default()));
    client
        .recurring()
        .add_or_update(
            "soak-tick",
            ledger_job(5),
            "*/2 * * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    let raw = (env.sqs.clone(), env.config.queue_urls["default"].clone());
    let mut batch = Batch::new().description("soak");
    let mut set = tokio::task::JoinSet::new();
    for i in 0..size {
        if i == size * 3 / 10 {
            // A pause mid-run: starts stop for 5 s, creation goes on.
            let client = client.clone();
            set.spawn(async move {
                client.pause_queue("default").await.unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
                let (_, woken) = client.resume_queue("default").await.unwrap();
                eprintln!(
                    "resumed at {}: {woken} woken",
                    chrono::Utc::now().format("%H:%M:%S%.3f")
                );
                None
            });
        }
        while set.len() >= 16 {
            if let Some(Some(job)) = set.join_next().await.map(|r| r.unwrap()) {
                batch = batch.enqueue(job).unwrap();
            }
        }
        set.spawn(create(i, client.clone(), raw.clone(), plan.clone()));
    }
    while let Some(res) = set.join_next().await {
        if let Some(job) = res.unwrap() {
            batch = batch.enqueue(job).unwrap();
        }
    }
    let n = batch.len() as u64;
    let batch = batch
        .continue_with(ledger_job(5), ContinueOn::Succeeded)
        .unwrap();
    let batch_id = client.start_batch(batch).await.unwrap();
    {
        let mut p = plan.lock().unwrap();
        for k in 1..=n {
            let id = JobId::parse(format!("{batch_id}.{k}")).unwrap();
            p.batch_jobs.push(id.clone());
            p.want.insert(
                id,
                (
                    Want::Succeeded,
                    Tags {
                        max_runs: 4,
                        ..Tags::default()
                    },
                ),
            );
        }
        let then = JobId::parse(format!("{batch_id}.then1")).unwrap();
        p.want.insert(
            then.clone(),
            (
                Want::Succeeded,
                Tags {
                    max_runs: 4,
                    ..Tags::default()
                },
            ),
        );
        p.batch_then = Some(then);
    }
    let created = started.elapsed();
    println!("created in {:.1} s", created.as_secs_f64());

    // Wait until every job is where it must end.
    // Only the jobs not there yet are read again (the emulator answers
    // every request on one core, the timer's and the workers' too).
    let mut pending: Vec<JobId> = plan.lock().unwrap().want.keys().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(120 + size as u64 / 4);
    let mut jobs: HashMap<JobId, JobRecord> = HashMap::new();
    loop {
        for job in direct.get_many(&pending).await.unwrap() {
            jobs.insert(job.id.clone(), job);
        }
        {
            let p = plan.lock().unwrap();
            pending.retain(|id| {
                let want = p.want[id].0;
                !jobs.get(id).is_some_and(|j| reached(j, want))
            });
        }
        let pending = pending.len();
        if pending == 0 || Instant::now() > deadline {
            println!(
                "{pending} jobs not where they must end after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // The final read of every job, for the checker.
    let ids: Vec<JobId> = plan.lock().unwrap().want.keys().cloned().collect();
    for job in direct.get_many(&ids).await.unwrap() {
        jobs.insert(job.id.clone(), job);
    }
    let ran_for = started.elapsed();
    client.recurring().remove("soak-tick").await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = tokio::join!(timer_task, chaos_task);
    // Let the workers take what is still in flight (a killed worker's
    // messages come back after the visibility timeout) and run the
    // occurrences that came due before the removal, then stop them.
    let drained_by = Instant::now() + Duration::from_secs(60);
    while Instant::now() < drained_by
        && (queue_messages(&env).await > 0 || occurrences_to_run(&direct).await > 0)
    {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Stopped as Lambda stops them (SIGTERM): each finishes the messages
    // it holds, so a message still in flight after this is one lost.
    let kills = {
        let mut w = workers.lock().await;
        for child in &w.children {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for child in &mut w.children {
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        }
        w.kills.clone()
    };

    let mut plan = std::mem::take(&mut *plan.lock().unwrap());
    let planned = plan.want.len();
    // Every occurrence the recurring job fired, read from the store (one
    // whose creation's answer was lost too): each must have run, or been
    // deleted with the recurring job before it started.
    for state in State::ALL {
        for job in direct.list(state, None, 1_000_000).await.unwrap() {
            if job.id.as_str().starts_with("soak-tick:") {
                let tags = Tags {
                    max_runs: 4,
                    occurrence: true,
                    ..Tags::default()
                };
                plan.want.insert(job.id.clone(), (Want::RanOrDeleted, tags));
                jobs.insert(job.id.clone(), job);
            }
        }
    }
    plan.skipped = skipped.load(std::sync::atomic::Ordering::SeqCst);
    let report = check(
        &env, &direct, &plan, &jobs, &ledger, &starts, &kills, batch_id,
    )
    .await;
    println!("{}", report.text);
    let faults = proxy.counts();
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, n) in &faults {
        *by_kind.entry(k.split(' ').next().unwrap()).or_default() += n;
    }
    println!("faults injected: {by_kind:?}");
    println!("kills: {}", kills.len());
    println!(
        "throughput: {:.1} jobs/s ({} jobs in {:.0} s)",
        planned as f64 / ran_for.as_secs_f64(),
        planned,
        ran_for.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if !report.violations.is_empty() {
        eprintln!("soak FAILED: {} violations", report.violations.len());
        for v in report.violations.iter().take(50) {
            eprintln!("  {v}");
        }
        std::process::exit(1);
    }
    println!("soak passed");
}

/// Messages visible and in flight in the stack's default queue.
async fn queue_messages(env: &TestEnv) -> u64 {
    let (visible, in_flight, _) = env.queue_depth("default").await;
    visible + in_flight
}

/// Occurrences of the recurring job not run yet (nor deleted).
async fn occurrences_to_run(direct: &Client) -> usize {
    let mut n = 0;
    for state in [State::Scheduled, State::Enqueued, State::Processing] {
        n += direct
            .list(state, None, 100_000)
            .await
            .unwrap()
            .iter()
            .filter(|j| j.id.as_str().starts_with("soak-tick:"))
            .count();
    }
    n
}

async fn send_raw(raw: &(aws_sdk_sqs::Client, String), body: &str) {
    raw.0
        .send_message()
        .queue_url(&raw.1)
        .message_body(body)
        .send()
        .await
        .expect("send");
}

/// Creates job `i` of the mix (its kind chosen by `i % 100`) and records
/// what it must end as; a job for the batch is returned instead.
async fn create(
    i: usize,
    client: Client,
    raw: (aws_sdk_sqs::Client, String),
    plan: Arc<Mutex<Plan>>,
) -> Option<NewJob> {
    let ms = rand::random_range(0..30);
    let want = |id: JobId, w: Want, tags: Tags| {
        plan.lock().unwrap().want.insert(id, (w, tags));
    };
    let moved = |what: &str| {
        *plan
            .lock()
            .unwrap()
            .moved
            .entry(what.to_owned())
            .or_default() += 1;
    };
    let tags = |max_runs: u32| Tags {
        max_runs,
        ..Tags::default()
    };
    match i % 100 {
        0..40 => want(
            client.enqueue(ledger_job(ms)).await.unwrap(),
            Want::Succeeded,
            tags(4),
        ),
        40..50 => {
            let delay = Duration::from_secs(rand::random_range(1..20));
            want(
                client.schedule(ledger_job(ms), delay).await.unwrap(),
                Want::Succeeded,
                tags(4),
            );
        }
        50..58 => {
            let job = job(json!({"ms": ms, "fail_first": rand::random_range(1..3)}));
            want(client.enqueue(job).await.unwrap(), Want::Succeeded, tags(4));
        }
        58..62 => {
            let job = job(json!({"ms": ms, "fail": true})).retry(RetryPolicy {
                attempts: 1,
                delays_secs: vec![1],
                ..RetryPolicy::default()
            });
            want(client.enqueue(job).await.unwrap(), Want::Failed, tags(2));
        }
        62..64 => {
            let job = ledger_job(3_000).timeout(Duration::from_secs(1)).retries(0);
            want(client.enqueue(job).await.unwrap(), Want::Failed, tags(1));
        }
        64..69 => {
            let parent = client.enqueue(ledger_job(ms)).await.unwrap();
            let child = client
                .continue_with(&parent, ledger_job(ms), ContinueOn::Succeeded)
                .await
                .unwrap();
            want(parent, Want::Succeeded, tags(4));
            want(child, Want::Succeeded, tags(4));
        }
        69..71 => {
            let parent = client
                .enqueue(job(json!({"ms": ms, "fail": true})).retries(0))
                .await
                .unwrap();
            let child = client
                .continue_with(&parent, ledger_job(ms), ContinueOn::AnyFinished)
                .await
                .unwrap();
            want(parent, Want::Failed, tags(1));
            want(
                child,
                Want::Awaiting,
                Tags {
                    never_runs: true,
                    ..tags(0)
                },
            );
        }
        71..74 => {
            let id = client
                .schedule(ledger_job(ms), Duration::from_secs(600))
                .await
                .unwrap();
            client.delete(&id).await.unwrap();
            want(
                id,
                Want::Deleted,
                Tags {
                    never_runs: true,
                    ..tags(0)
                },
            );
        }
        74..76 => {
            let id = client
                .schedule(ledger_job(ms), Duration::from_secs(600))
                .await
                .unwrap();
            client
                .reschedule(&id, Duration::from_secs(2))
                .await
                .unwrap();
            want(id, Want::Succeeded, tags(4));
        }
        76..81 => {
            let body = json!({"hangar_intake": 1, "kind": "ledger.run", "args": {"ms": ms},
                    "idempotency_key": format!("soak-{i}"), "timeout_seconds": 5})
            .to_string();
            send_raw(&raw, &body).await;
            if i.is_multiple_of(5) {
                send_raw(&raw, &body).await;
            }
            // The Rust client's idempotent creation with the same key names
            // the same job, whichever of the two creates it.
            if i % 5 == 1 {
                let same = ledger_job(ms)
                    .idempotency_key(&format!("soak-{i}"))
                    .unwrap();
                let id = client.enqueue(same).await.unwrap();
                assert_eq!(id.as_str(), format!("idem-soak-{i}"), "one job per key");
            }
            if i.is_multiple_of(10) {
                send_raw(
                    &raw,
                    &format!(
                        "{{\"hangar_intake\": 1, \"kind\": \"ledger.run\", \"retries\": \"x{i}\"}}"
                    ),
                )
                .await;
                plan.lock().unwrap().bad_bodies += 1;
            }
            // Retries 10, Hangfire's back-off: at most the policy's runs.
            want(
                JobId::parse(format!("idem-soak-{i}")).unwrap(),
                Want::Succeeded,
                tags(11),
            );
        }
        81..86 => {
            let job = ledger_job(100).concurrency("soak-c", CONC_LIMIT as u32);
            want(
                client.enqueue(job).await.unwrap(),
                Want::Succeeded,
                Tags {
                    conc: true,
                    ..tags(4)
                },
            );
        }
        86..91 => {
            let job = ledger_job(ms).rate("soak-r", RATE.0, Duration::from_millis(RATE.1));
            want(
                client.enqueue(job).await.unwrap(),
                Want::Succeeded,
                Tags {
                    rate: true,
                    ..tags(4)
                },
            );
        }
        91..93 => {
            // Deleted while queued or running (or just after it ran): it
            // ends Deleted, and no run is claimed after the deletion.
            let id = enqueued_a_while_ago(&client, 1000..3000).await;
            let job = client.delete(&id).await.unwrap();
            let was = job.history.iter().rev().nth(1).map(|h| h.state.to_string());
            moved(&format!("deleted while {}", was.unwrap_or_default()));
            want(id, Want::Deleted, tags(4));
        }
        93..95 => {
            // Rescheduled while queued: it runs 2 s later and the message
            // for its old time is dropped. Refused while it runs; run
            // again if it had already finished.
            let id = enqueued_a_while_ago(&client, 500..2000).await;
            let outcome = match client.reschedule(&id, Duration::from_secs(2)).await {
                Ok(due) => {
                    // The state before the entry this reschedule wrote.
                    let job = client.get(&id).await.unwrap().expect("just rescheduled");
                    let due = due.timestamp_millis().to_string();
                    let at = job
                        .history
                        .iter()
                        .position(|h| h.data.get("due") == Some(&due))
                        .expect("the reschedule's entry");
                    format!("while {}", job.history[at.saturating_sub(1)].state)
                }
                Err(hangar::Error::InvalidTransition { from, .. }) => {
                    assert_eq!(from, State::Processing, "only a running job refuses");
                    "refused while Processing".to_owned()
                }
                Err(e) => panic!("reschedule of {id}: {e}"),
            };
            moved(&format!("rescheduled {outcome}"));
            // Two runs of attempt 1 at most (before and after a
            // reschedule of the finished job), each with its retries.
            want(id, Want::Succeeded, tags(4));
        }
        _ => return Some(ledger_job(ms)),
    }
    None
}

/// A job of `ms` milliseconds (a random one of the range), enqueued 0-4 s
/// ago: queued, running or done by now.
async fn enqueued_a_while_ago(client: &Client, ms: std::ops::Range<u64>) -> JobId {
    let id = client
        .enqueue(ledger_job(rand::random_range(ms)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..4000))).await;
    id
}

fn reached(j: &JobRecord, w: Want) -> bool {
    match w {
        Want::Succeeded => j.state == State::Succeeded,
        Want::Failed => j.state == State::Failed,
        Want::Deleted => j.state == State::Deleted,
        Want::Awaiting => j.state == State::Awaiting,
        Want::RanOrDeleted => matches!(j.state, State::Succeeded | State::Deleted),
    }
}

struct Report {
    text: String,
    violations: Vec<String>,
}

/// A run: from its start line, ended by its end line, by its process's
/// kill, or by its timeout.
#[derive(Debug, Clone)]
struct Run {
    job: String,
    attempt: u64,
    start: i64,
    end: i64,
    /// Its end line says it succeeded.
    ok: bool,
}

#[allow(clippy::too_many_arguments)]
async fn check(
    env: &TestEnv,
    direct: &Client,
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    ledger: &PathBuf,
    starts: &PathBuf,
    kills: &[(u32, i64)],
    batch: JobId,
) -> Report {
    let mut v = Vec::new();
    // A run is its job, attempt, process and start: a job rescheduled
    // after it ran runs attempt 1 again.
    type RunKey = (String, u64, u64, i64);
    let key = |l: &Value| -> RunKey {
        (
            l["job"].as_str().unwrap_or_default().to_owned(),
            l["attempt"].as_u64().unwrap_or(0),
            l["pid"].as_u64().unwrap_or(0),
            l["start"].as_i64().unwrap_or(0),
        )
    };
    let ends: HashMap<RunKey, Value> = read_lines(ledger)
        .into_iter()
        .map(|l| (key(&l), l))
        .collect();
    let killed: HashMap<u64, i64> = kills.iter().map(|(p, t)| (u64::from(*p), *t)).collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut seen = HashSet::new();
    for s in read_lines(starts) {
        let run = key(&s);
        if !seen.insert(run.clone()) {
            continue;
        }
        let (job, attempt, pid, start) = run.clone();
        let ok = ends.get(&run).is_some_and(|e| e["ok"] == true);
        let end = match ends.get(&run) {
            Some(e) => e["end"].as_i64().unwrap_or(start),
            None => match killed.get(&pid) {
                Some(t) if *t >= start => *t,
                _ => start + TIMEOUT.as_millis() as i64 + 1_000,
            },
        };
        runs.push(Run {
            job,
            attempt,
            start,
            end,
            ok,
        });
    }
    let mut by_job: HashMap<&str, Vec<&Run>> = HashMap::new();
    for r in &runs {
        by_job.entry(r.job.as_str()).or_default().push(r);
    }

    let mut latencies = Vec::new();
    for (id, (want, tags)) in &plan.want {
        let Some(job) = jobs.get(id) else {
            v.push(format!("lost: job {id} is not in the store"));
            continue;
        };
        if !reached(job, *want) {
            v.push(format!(
                "job {id} is {}, must end {want:?}; run_at {:?}, handed off {}, parked {:?}, waiting for {:?}:\n{}",
                job.state,
                job.run_at,
                job.handed_off,
                job.parked_at,
                job.waiting_for,
                hangar_integration_tests::history(job)
            ));
        }
        let mut mine: Vec<&Run> = by_job.get(id.as_str()).cloned().unwrap_or_default();
        mine.sort_by_key(|r| r.start);
        if tags.never_runs && !mine.is_empty() {
            v.push(format!(
                "job {id} ran {} times; its condition did not hold or it was deleted first",
                mine.len()
            ));
        }
        if job.state == State::Succeeded && !mine.iter().any(|r| r.ok) {
            v.push(format!(
                "job {id} Succeeded without a successful run in the ledger"
            ));
        }
        let attempts: HashSet<u64> = mine.iter().map(|r| r.attempt).collect();
        if attempts.len() as u32 > tags.max_runs.max(1) && !tags.never_runs {
            v.push(format!(
                "job {id} ran {} attempts, its policy allows {}",
                attempts.len(),
                tags.max_runs
            ));
        }
        for w in mine.windows(2) {
            if w[1].start < w[0].end {
                v.push(format!(
                    "job {id}: runs {} and {} overlap ({}..{} and {}..{})",
                    w[0].attempt, w[1].attempt, w[0].start, w[0].end, w[1].start, w[1].end
                ));
            }
        }
        if matches!(job.state, State::Succeeded | State::Deleted) {
            // Each run must have been claimed (a Processing entry at or
            // before its start) before the job reached its end: a run
            // claimed just before a deletion may start just after it.
            let done = job
                .history
                .iter()
                .rev()
                .find(|h| h.state == job.state)
                .map_or(i64::MAX, |h| h.at.timestamp_millis());
            // A long history keeps its first and last entries only.
            let truncated = job
                .history
                .first()
                .is_some_and(|h| h.data.contains_key("history_truncated"));
            for r in &mine {
                let claim = job
                    .history
                    .iter()
                    .filter(|h| h.state == State::Processing)
                    .map(|h| h.at.timestamp_millis())
                    .take_while(|at| *at <= r.start)
                    .last();
                match claim {
                    None if truncated => {}
                    None => v.push(format!(
                        "job {id}: run {} started at {} without a claim",
                        r.attempt, r.start
                    )),
                    Some(at) if at > done => v.push(format!(
                        "job {id}: run {} was claimed after it was {}",
                        r.attempt, job.state
                    )),
                    Some(_) => {}
                }
            }
        }
        if let Some(first) = mine.first().filter(|_| !tags.occurrence) {
            latencies.push(first.start - job.created_at.timestamp_millis());
        }
    }
    // Concurrency key: runs at once never over the limit.
    let conc: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            JobId::parse(&r.job)
                .ok()
                .and_then(|id| plan.want.get(&id))
                .is_some_and(|(_, t)| t.conc)
        })
        .collect();
    let mut edges: Vec<(i64, i32)> = conc
        .iter()
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    if most > CONC_LIMIT as i32 {
        v.push(format!(
            "concurrency key: {most} runs at once, limit {CONC_LIMIT}"
        ));
    }
    // Rate limit: starts per window never over n.
    let mut windows: BTreeMap<i64, u32> = BTreeMap::new();
    for r in runs.iter().filter(|r| {
        JobId::parse(&r.job)
            .ok()
            .and_then(|id| plan.want.get(&id))
            .is_some_and(|(_, t)| t.rate)
    }) {
        *windows
            .entry(r.start.div_euclid(RATE.1 as i64))
            .or_default() += 1;
    }
    let busiest = windows.values().max().copied().unwrap_or(0);
    if busiest > RATE.0 {
        v.push(format!(
            "rate limit: {busiest} starts in one window, limit {}",
            RATE.0
        ));
    }
    // The batch's continuation ran after every batch job ended.
    let last_batch_end = plan
        .batch_jobs
        .iter()
        .flat_map(|id| by_job.get(id.as_str()).cloned().unwrap_or_default())
        .map(|r| r.end)
        .max()
        .unwrap_or(0);
    if let Some(then) = &plan.batch_then {
        for r in by_job.get(then.as_str()).cloned().unwrap_or_default() {
            if r.start < last_batch_end {
                v.push(format!("batch continuation started at {} before the batch's last run ended at {last_batch_end}", r.start));
            }
        }
    }
    if let Some(b) = direct.batch(&batch).await.unwrap()
        && !(b.succeeded == b.total && b.open == 0)
    {
        v.push(format!("batch counters: {b:?}"));
    }
    // Bad bodies: each a visible Failed job.
    let invalid = direct
        .list(State::Failed, None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == hangar::worker::INVALID_MESSAGE_KIND)
        .count();
    if invalid != plan.bad_bodies {
        v.push(format!(
            "{invalid} bad messages recorded as Failed jobs, {} sent",
            plan.bad_bodies
        ));
    }
    // Nothing in the dead-letter queue, and nothing in the queue but stale
    // wake-ups (for a job that has moved on since, which a worker drops).
    let dlq = env.dlq_url("default").await;
    let (visible, in_flight, _) = env.queue_depth_at(&dlq).await;
    if visible + in_flight > 0 {
        v.push(format!(
            "default-dlq: {visible} messages visible, {in_flight} in flight"
        ));
        // What they are, for whoever reads the failure.
        let out = env
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let job = match hangar::message::parse_body(body) {
                hangar::message::Body::WakeUp(w) => direct
                    .get(&w.job)
                    .await
                    .unwrap()
                    .map(|j| format!("its job {} is {} (v{})", j.id, j.state, j.version)),
                _ => None,
            };
            v.push(format!(
                "  dead letter after {} receives: {}; {}",
                m.attributes()
                    .and_then(|a| a.get(
                        &aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount
                    ))
                    .map_or("?", String::as_str),
                body.chars().take(160).collect::<String>(),
                job.unwrap_or_else(|| "not a wake-up of a known job".into())
            ));
        }
    }
    let (visible, in_flight, _) = env.queue_depth("default").await;
    if in_flight > 0 {
        v.push(format!(
            "default: {in_flight} messages in flight after the workers stopped"
        ));
    }
    if visible > 0 {
        let out = env
            .sqs
            .receive_message()
            .queue_url(&env.config.queue_urls["default"])
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let live = match hangar::message::parse_body(body) {
                hangar::message::Body::WakeUp(w) => {
                    direct.get(&w.job).await.unwrap().is_some_and(|j| {
                        !j.state.is_final() && j.state != State::Failed && j.version == w.v
                    })
                }
                hangar::message::Body::Invalid(_) => true,
            };
            if live {
                v.push(format!("default: a message left unconsumed: {body}"));
            }
        }
    }
    let occurrences: Vec<&JobRecord> = plan
        .want
        .iter()
        .filter(|(_, (_, t))| t.occurrence)
        .filter_map(|(id, _)| jobs.get(id))
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    let text = format!(
        "jobs: {} and {} occurrences ({} runs in the ledger)\nrecurring: {} occurrences fired ({} ran, {} deleted with the recurring job), {} missed ones skipped by the misfire policy\nenqueue-to-start latency ms: p50 {} p90 {} p99 {} max {}\nmost runs at once under the concurrency key: {most} (limit {CONC_LIMIT}); most rate-limited starts in a window: {busiest} (limit {})\nmoved after creation: {:?}\nviolations: {}",
        plan.want.len() - occurrences.len(),
        occurrences.len(),
        runs.len(),
        occurrences.len(),
        occurrences
            .iter()
            .filter(|j| j.state == State::Succeeded)
            .count(),
        occurrences
            .iter()
            .filter(|j| j.state == State::Deleted)
            .count(),
        plan.skipped,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0),
        RATE.0,
        plan.moved,
        v.len()
    );
    Report {
        text,
        violations: v,
    }
}
