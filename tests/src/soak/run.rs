//! Driving the stack: the fault proxy, the worker processes and the chaos
//! loop that kills them, the timer, and the creation of the mix.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar::{Batch, Client, JobId, JobRecord, State, Timer};
use tokio::task::JoinHandle;

use crate::proxy::{Fault, Proxy, Rule};
use crate::{EnvOptions, TestEnv, endpoint, sdk_config_at};
use hangar_sim::mix::{self, Mix, Plan};
use rand::SeedableRng;

const GRACE: Duration = Duration::from_secs(15);
/// A worker process is killed (SIGKILL) and replaced this often.
const CHAOS_EVERY: Duration = Duration::from_secs(6);
const WORKERS: usize = 4;

/// The stack under the soak and what drives it.
pub(super) struct Stack {
    pub(super) env: TestEnv,
    proxy: Proxy,
    /// Through the proxy, with the soak's grace period.
    client: Client,
    /// Straight to the emulator, past the proxy and the test environment's
    /// call recorders: the reads for the checks.
    pub(super) direct: Client,
    dir: PathBuf,
    /// The workers' end lines of their runs.
    pub(super) ledger: PathBuf,
    /// The workers' start lines of their runs.
    pub(super) starts: PathBuf,
    workers: Arc<tokio::sync::Mutex<Workers>>,
    /// The workers' output, shipped to the stack's worker log group as
    /// Lambda ships a function's.
    shipper: Option<hangar::logs::Shipper>,
    stop: Arc<AtomicBool>,
    /// Stops the timer, which runs on through the drain: a wake-up lost
    /// near the end is repaired as in any stack.
    timer_stop: Arc<AtomicBool>,
    /// Missed occurrences of the recurring job the timer skipped.
    skipped: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// A fresh stack behind the fault proxy, its worker processes started,
    /// the timer and the chaos loop running.
    pub(super) async fn start(size: usize) -> Self {
        let env = TestEnv::with(EnvOptions {
            visibility: Duration::from_secs(20),
            shards: Some(2),
            // As deployed (the templates' MaxReceiveCount).
            max_receive_count: 5,
            ..Default::default()
        })
        .await;
        let proxy = Proxy::start(&endpoint(), 0, fault_rules())
            .await
            .expect("the proxy starts");
        let mut config = env.config.clone();
        config.grace = GRACE;
        let client = Client::new(&sdk_config_at(&proxy.url()).await, config);
        let dir = std::env::temp_dir().join(format!("hangar-soak-{}", env.config.stack));
        std::fs::create_dir_all(&dir).unwrap();
        let (ledger, starts) = (dir.join("ledger.jsonl"), dir.join("starts.jsonl"));
        let mut shipper = hangar::logs::Shipper::new(env.clock.clone());
        shipper
            .start(env.logs.clone(), &env.config.worker_log_group())
            .await
            .expect("the worker log group is made");
        let workers = Workers {
            env: worker_env(&env, &proxy, &ledger, &starts),
            children: Vec::new(),
            kills: Vec::new(),
            lines: shipper.writer(),
            outputs: Vec::new(),
        };
        let workers = Arc::new(tokio::sync::Mutex::new(workers));
        for _ in 0..WORKERS {
            workers.lock().await.spawn();
        }
        println!(
            "soak: {size} jobs, stack {}, {WORKERS} worker processes, emulator {} behind proxy {}",
            env.config.stack,
            endpoint(),
            proxy.url()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let timer_stop = Arc::new(AtomicBool::new(false));
        let skipped = Arc::new(AtomicUsize::new(0));
        let tasks = vec![
            spawn_chaos(workers.clone(), stop.clone()),
            spawn_timer(&client, timer_stop.clone(), skipped.clone()),
        ];
        let direct = env.client_via(&endpoint()).await;
        Stack {
            env,
            proxy,
            client,
            direct,
            dir,
            ledger,
            starts,
            workers,
            shipper: Some(shipper),
            stop,
            timer_stop,
            skipped,
            tasks,
        }
    }

    /// Creates `size` jobs of the mix, 16 at a time, pausing the queue for
    /// 5 s at 30 % of them; the jobs the mix leaves to the batch go in one
    /// batch at the end.
    pub(super) async fn create_mix(&self, size: usize, plan: &Arc<Mutex<Plan>>) {
        let seed: u64 = rand::random();
        println!("mix seed {seed}");
        let mix = Mix {
            client: self.client.clone(),
            raw: (
                self.env.sqs.clone(),
                self.env.config.queue_urls["default"].clone(),
            ),
            plan: plan.clone(),
            rng: Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed))),
            horizon: Duration::ZERO,
        };
        mix.add_recurring().await;
        let mut batch = Batch::new().description("soak");
        let mut set = tokio::task::JoinSet::new();
        for i in 0..size {
            if i == size * 3 / 10 {
                let client = self.client.clone();
                set.spawn(async move {
                    pause_for_a_while(&client).await;
                    None
                });
            }
            while set.len() >= 16 {
                if let Some(Some(job)) = set.join_next().await.map(|r| r.unwrap()) {
                    batch = batch.enqueue(job).unwrap();
                }
            }
            set.spawn(mix.clone().create(i));
        }
        while let Some(res) = set.join_next().await {
            if let Some(job) = res.unwrap() {
                batch = batch.enqueue(job).unwrap();
            }
        }
        mix.start_batch(batch, 0).await;
        // The doomed jobs, once Failed, go in one bulk delete.
        tokio::spawn(async move { mix.delete_doomed().await });
    }

    /// Waits until every job of the plan is where it must end, or the
    /// deadline for `size` jobs passes; then reads every job once more.
    pub(super) async fn wait_for_ends(
        &self,
        size: usize,
        plan: &Mutex<Plan>,
        started: Instant,
    ) -> HashMap<JobId, JobRecord> {
        // Only the jobs not there yet are read again (the emulator answers
        // every request on one core, the timer's and the workers' too).
        let mut pending: Vec<JobId> = plan.lock().unwrap().want.keys().cloned().collect();
        let deadline = Instant::now() + Duration::from_secs(120 + size as u64 / 4);
        let mut jobs: HashMap<JobId, JobRecord> = HashMap::new();
        loop {
            for job in self.direct.get_many(&pending).await.unwrap() {
                jobs.insert(job.id.clone(), job);
            }
            {
                let p = plan.lock().unwrap();
                pending.retain(|id| {
                    let want = p.want[id].0;
                    !jobs.get(id).is_some_and(|j| want.reached(j))
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
        for job in self.direct.get_many(&ids).await.unwrap() {
            jobs.insert(job.id.clone(), job);
        }
        jobs
    }

    /// Removes the recurring job, stops the chaos loop, lets the workers
    /// drain what is left (the timer still repairing lost wake-ups), then
    /// stops the timer and the workers. Returns the kills: process id and
    /// time (epoch ms).
    pub(super) async fn stop(&mut self) -> Vec<(u32, i64)> {
        self.client
            .recurring()
            .remove(mix::RECURRING)
            .await
            .unwrap();
        self.stop.store(true, Ordering::SeqCst);
        let mut tasks = std::mem::take(&mut self.tasks);
        let timer = tasks.pop().expect("the timer is the last task");
        for task in tasks {
            let _ = task.await;
        }
        self.drain().await;
        self.timer_stop.store(true, Ordering::SeqCst);
        let _ = timer.await;
        let kills = self.workers.lock().await.stop().await;
        if let Some(shipper) = self.shipper.take() {
            shipper.stop().await;
        }
        kills
    }

    /// Lets the workers take what is still in flight (a killed worker's
    /// messages come back after the visibility timeout) and run the
    /// occurrences that came due before the removal.
    async fn drain(&self) {
        let drained_by = Instant::now() + Duration::from_secs(60);
        while Instant::now() < drained_by
            && (self.queue_messages().await > 0 || self.occurrences_to_run().await > 0)
        {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    /// Messages visible and in flight in the stack's default queue.
    async fn queue_messages(&self) -> u64 {
        let (visible, in_flight, _) = self.env.queue_depth("default").await;
        visible + in_flight
    }

    /// Occurrences of the recurring job not run yet (nor deleted).
    async fn occurrences_to_run(&self) -> usize {
        let mut n = 0;
        for state in [State::Scheduled, State::Enqueued, State::Processing] {
            n += self
                .direct
                .list(state, None, 100_000)
                .await
                .unwrap()
                .iter()
                .filter(|j| mix::is_occurrence(&j.id))
                .count();
        }
        n
    }

    /// Every occurrence the recurring job fired, read from the store (one
    /// whose creation's answer was lost too).
    pub(super) async fn fired_occurrences(&self) -> Vec<JobRecord> {
        let mut fired = Vec::new();
        for state in State::ALL {
            for job in self.direct.list(state, None, 1_000_000).await.unwrap() {
                if mix::is_occurrence(&job.id) {
                    fired.push(job);
                }
            }
        }
        fired
    }

    pub(super) fn skipped(&self) -> usize {
        self.skipped.load(Ordering::SeqCst)
    }

    /// The faults the proxy injected, by kind.
    pub(super) fn faults(&self) -> BTreeMap<String, u64> {
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for (k, n) in self.proxy.counts() {
            *by_kind
                .entry(k.split(' ').next().unwrap().to_owned())
                .or_default() += n;
        }
        by_kind
    }

    /// Removes the ledger.
    pub(super) fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the proxy does to requests: DynamoDB's throttled, answered 500,
/// writes' answers lost, delayed; SQS sends duplicated and their answers
/// lost, requests throttled, receives and deletes answered 500.
fn fault_rules() -> Vec<Rule> {
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
    ]
}

/// The environment of a worker process: the stack's, through the proxy,
/// with the soak's grace period and the ledger's files.
fn worker_env(
    env: &TestEnv,
    proxy: &Proxy,
    ledger: &std::path::Path,
    starts: &std::path::Path,
) -> Vec<(&'static str, String)> {
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
        crate::TEST_CREDENTIALS
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned())),
    );
    worker_env
}

/// A pause mid-run: starts stop for 5 s, creation goes on.
async fn pause_for_a_while(client: &Client) {
    client.pause_queue("default").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, woken) = client.resume_queue("default").await.unwrap();
    eprintln!(
        "resumed at {}: {woken} woken",
        chrono::Utc::now().format("%H:%M:%S%.3f")
    );
}

/// The timer, ticking every second until `stop`; a tick that unparked or
/// failed something or did not complete is printed (every one with
/// `SOAK_TICKS` set).
fn spawn_timer(
    client: &Client,
    stop: Arc<AtomicBool>,
    skipped: Arc<AtomicUsize>,
) -> JoinHandle<()> {
    let timer = Timer::new(client);
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let t0 = Instant::now();
            let tick = timer.tick(Duration::from_secs(10)).await;
            if let Ok(r) = &tick {
                skipped.fetch_add(r.skipped, Ordering::SeqCst);
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
}

/// The chaos loop: a worker killed and replaced every [`CHAOS_EVERY`]
/// until `stop`.
fn spawn_chaos(workers: Arc<tokio::sync::Mutex<Workers>>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(CHAOS_EVERY).await;
            workers.lock().await.kill_one().await;
        }
    })
}

/// The `ledger-worker` processes.
struct Workers {
    env: Vec<(&'static str, String)>,
    children: Vec<tokio::process::Child>,
    /// Process id and time (epoch ms) of each kill.
    kills: Vec<(u32, i64)>,
    /// Where their output goes, and the tasks reading it.
    lines: hangar::logs::LineWriter,
    outputs: Vec<JoinHandle<()>>,
}

impl Workers {
    fn spawn(&mut self) {
        // Built beside the soak's binary (same package).
        let exe = std::env::current_exe().expect("this binary's path");
        let worker = exe.with_file_name("ledger-worker");
        let mut child = tokio::process::Command::new(worker)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HANGAR_LOG_FORMAT", "json")
            // The runs' lines the check reads, and the library's warnings
            // only: the job's id is on a run's lines whatever the level of
            // the library's own.
            .env("RUST_LOG", "warn,ledger_worker=info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("a ledger worker starts");
        let (out, err) = (child.stdout.take(), child.stderr.take());
        (self.outputs).extend(out.map(|o| tokio::spawn(self.lines.clone().ship_output(o, false))));
        (self.outputs).extend(err.map(|e| tokio::spawn(self.lines.clone().ship_output(e, false))));
        self.children.push(child);
    }

    /// Kills a random one (SIGKILL) and starts another.
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

    /// Stops them as Lambda stops them (SIGTERM): each finishes the
    /// messages it holds, so a message still in flight after this is one
    /// lost. Returns the kills.
    async fn stop(&mut self) -> Vec<(u32, i64)> {
        for child in &self.children {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for child in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        }
        // Their output to its end: every line shipped.
        for output in self.outputs.drain(..) {
            let _ = output.await;
        }
        self.kills.clone()
    }
}
