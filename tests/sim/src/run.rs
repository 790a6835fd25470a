//! One seed's run: a stack on the models (table and queue made by the
//! library's own setup), the soak's mix of jobs ([`crate::mix`]) created
//! by clients at a seeded pace, the worker under the modelled event source
//! mapping and the timer under the modelled scheduler, all in virtual time
//! on one thread; then the soak's checker ([`crate::promises`]).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{Batch, Client, JobFailure, JobId, JobRecord, NewJob, Registry, State};
use rand::{Rng, SeedableRng};

use crate::dynamodb::value::Av;
use crate::lambda::{self, Counters, Mapping};
use crate::mix::{self, Mix, Plan, Want};
use crate::net::{Faults, Network};
use crate::pause::{ParkWatch, pause_for_a_while};
use crate::promises::{self, Run};
use crate::scheduler::{self, Tally, Ticks};
use crate::stack::{QUEUE, Stack, block_on, sim_client};
use crate::time::VirtualClock;
use crate::world::SharedWorld;

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub jobs: usize,
    /// New jobs a second, on average.
    pub rate: f64,
    pub faults: Faults,
    pub crash_chance: f64,
    pub ticks: Ticks,
    /// How far ahead delayed jobs may be scheduled.
    pub horizon: Duration,
}

impl Options {
    pub fn new(seed: u64, jobs: usize) -> Self {
        Options {
            seed,
            jobs,
            rate: 50.0,
            faults: Faults {
                throttle: 0.01,
                server_error: 0.005,
                lost_answer: 0.005,
                latency_ms: (2, 12),
                sends_lost: false,
            },
            crash_chance: 0.01,
            ticks: Ticks::default(),
            horizon: Duration::from_secs(3_600),
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub hash: u64,
    pub calls: u64,
    pub violations: Vec<String>,
    /// Virtual time from the first job to the last one's end.
    pub simulated: Duration,
    pub figures: BTreeMap<String, String>,
    /// The checker's summary.
    pub summary: String,
    pub tail: Vec<String>,
}

/// Batch jobs of the mix go in a batch of this many.
const BATCH_SIZE: usize = 200;
/// Creations under way at once, as in the soak.
const CREATORS: usize = 16;
/// How long the recurring job fires past the creation.
const RECURRING_AFTER: Duration = Duration::from_secs(60);

/// Runs one seed to its end, on a runtime of its own whose clock is
/// paused (it moves only when every task waits).
pub fn run(options: &Options) -> Report {
    block_on(run_seed(options.clone()))
}

async fn run_seed(options: Options) -> Report {
    let Stack {
        clock,
        world,
        sdk,
        config,
        settings,
        run_no,
    } = Stack::new("sim", options.seed, options.faults).await;
    // Each simulated process has its own SDK retry partition, named by the
    // run and the process.
    let process = |name: &str| format!("sim-{run_no}-{name}");
    let (client, sqs) = sim_client(&sdk, config.clone(), Arc::new(clock), &process("client"));
    // A client whose process dies between its writes and its sends: the
    // jobs it creates are in the table with no message; the timer must
    // send them.
    let (dying, _) = {
        let faults = Faults {
            sends_lost: true,
            ..options.faults
        };
        let sdk = crate::net::sdk_config(Network::new(world.clone(), clock, faults), clock);
        sim_client(
            &sdk,
            config.clone(),
            Arc::new(clock),
            &process("dying-client"),
        )
    };
    // The checker's reads: no faults.
    let (observer, observer_sqs) = {
        let sdk = crate::net::sdk_config(Network::new(world.clone(), clock, Faults::none()), clock);
        sim_client(&sdk, config.clone(), Arc::new(clock), &process("observer"))
    };
    let ledger: Arc<Mutex<Vec<Run>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let tally = Arc::new(Tally::default());
    let mapping = Mapping {
        queue: QUEUE.into(),
        queue_url: config.queue_urls[QUEUE].clone(),
        batch_size: 10,
        window: Duration::ZERO,
        max_concurrency: 50,
        timeout: Duration::from_secs(900),
        visibility: settings.visibility_timeout,
        crash_chance: options.crash_chance,
        start_concurrency: lambda::START_CONCURRENCY,
    };
    let esm = tokio::spawn(lambda::run(
        world.clone(),
        clock,
        mapping,
        invoker(
            sdk.clone(),
            config.clone(),
            world.clone(),
            clock,
            ledger.clone(),
            run_no,
        ),
        stop.clone(),
        counters.clone(),
    ));
    let timer_stop = Arc::new(AtomicBool::new(false));
    let sched = tokio::spawn(scheduler::run(
        world.clone(),
        hangar::Timer::new(&client),
        options.ticks,
        timer_stop.clone(),
        tally.clone(),
    ));
    let plan = Arc::new(Mutex::new(Plan::default()));
    let mix_rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(
        options.seed ^ 0x006d_6978,
    )));
    let mix = |client: &Client| Mix {
        client: client.clone(),
        raw: (sqs.clone(), config.queue_urls[QUEUE].clone()),
        plan: plan.clone(),
        rng: mix_rng.clone(),
        horizon: options.horizon,
    };
    let (mix, dying_mix) = (mix(&client), mix(&dying));
    let started = clock.now();
    mix.add_recurring().await;
    let watch = ParkWatch {
        world: world.clone(),
        table: config.table.clone(),
        clock,
        skew_ms: MAX_SKEW_MS,
        late: Arc::default(),
    };
    let watching = tokio::spawn(watch.clone().watch());
    create_mix(&mix, &dying_mix, &world, &options).await;
    // The recurring job fires for a minute past the creation.
    let removal = tokio::spawn({
        let mix = mix.clone();
        async move {
            tokio::time::sleep(RECURRING_AFTER).await;
            mix.remove_recurring().await;
        }
    });
    // The doomed jobs, once Failed, go in one bulk delete.
    let doom = tokio::spawn({
        let mix = mix.clone();
        async move { mix.delete_doomed().await }
    });
    let finished = wait_for_ends(&world, &config.table, &plan).await;
    doom.abort();
    let simulated = (clock.now() - started).to_std().unwrap_or_default();
    let billing = world.lock().expect("one thread").dynamodb.billing().clone();
    let _ = removal.await;
    drain(&world, &config, clock).await;
    // Long done (it watches 10 s after the resume), unless the run had no
    // pause.
    watching.abort();
    let _ = watching.await;
    stop.store(true, Ordering::SeqCst);
    let _ = esm.await;
    timer_stop.store(true, Ordering::SeqCst);
    let _ = sched.await;

    let mut plan = std::mem::take(&mut *plan.lock().expect("one thread"));
    for id in occurrences(&world, &config.table, |_| true) {
        plan.add_occurrence(id);
    }
    plan.skipped = tally.skipped.load(Ordering::SeqCst);
    let jobs = read_all(&observer, &plan).await;
    let runs = ledger.lock().expect("one thread").clone();
    let dlq_url = observer_sqs
        .get_queue_url()
        .queue_name(config.sqs_dlq_name(QUEUE))
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url)
        .expect("the dead-letter queue");
    let stack = promises::Stack {
        client: &observer,
        sqs: &observer_sqs,
        queue_url: &config.queue_urls[QUEUE],
        dlq_url: &dlq_url,
        skew_ms: 2 * MAX_SKEW_MS,
    };
    let checked = promises::check(&plan, &jobs, &runs, &stack).await;
    let mut violations = checked.violations;
    for late in watch.late.lock().expect("one thread").iter() {
        violations.push(format!("parked after the resume: {late}"));
    }
    if !finished {
        violations.insert(
            0,
            "not every job reached its end within the run's time".into(),
        );
    }
    let w = world.lock().expect("one thread");
    let mut figures = BTreeMap::new();
    figures.insert("jobs".into(), plan.want.len().to_string());
    figures.insert("runs".into(), runs.len().to_string());
    figures.insert(
        "invocations".into(),
        counters.invocations.load(Ordering::SeqCst).to_string(),
    );
    figures.insert(
        "crashes".into(),
        counters.crashes.load(Ordering::SeqCst).to_string(),
    );
    figures.insert(
        "timeouts".into(),
        counters.timeouts.load(Ordering::SeqCst).to_string(),
    );
    figures.insert(
        "ticks".into(),
        tally.ticks.load(Ordering::SeqCst).to_string(),
    );
    figures.insert("simulated_s".into(), simulated.as_secs().to_string());
    for (name, usage) in billing.tables.iter().chain(&billing.indexes) {
        figures.insert(format!("wcu:{name}"), format!("{:.0}", usage.write_units));
        figures.insert(format!("rcu:{name}"), format!("{:.0}", usage.read_units));
    }
    for p in [50, 90, 99] {
        let at = f64::from(p) / 100.0;
        figures.insert(
            format!("start_p{p}_ms"),
            promises::percentile(&checked.latencies, at).to_string(),
        );
        figures.insert(
            format!("late_p{p}_ms"),
            promises::percentile(&checked.lateness, at).to_string(),
        );
    }
    Report {
        seed: options.seed,
        hash: w.trace.hash(),
        calls: w.trace.lines(),
        violations,
        simulated,
        figures,
        summary: checked.text,
        tail: w.trace.tail().collect(),
    }
}

/// How far a host's clock may be off (EC2 and Lambda hosts keep time
/// with the Amazon Time Sync Service, well within this).
const MAX_SKEW_MS: i64 = 1_000;

/// The function the mapping invokes: a worker in a fresh environment
/// whose handler records each run in the ledger, as the soak's ledger
/// workers do.
fn invoker(
    sdk: aws_config::SdkConfig,
    config: hangar::Config,
    world: SharedWorld,
    clock: VirtualClock,
    ledger: Arc<Mutex<Vec<Run>>>,
    run_no: usize,
) -> lambda::Invoke {
    lambda::warm(move |env| {
        let alive = env.alive.clone();
        let ledger = ledger.clone();
        // Each environment's host clock is off by up to a second.
        let skew_ms = world
            .lock()
            .expect("one thread")
            .rng
            .random_range(-MAX_SKEW_MS..=MAX_SKEW_MS);
        let host = crate::time::SkewedClock {
            base: clock,
            skew_ms,
        };
        let (client, _) = sim_client(
            &sdk,
            config.clone(),
            Arc::new(host),
            &format!("sim-{run_no}-env-{}", env.id),
        );
        let registry = Registry::new().raw_with_result(mix::KIND, move |args, ctx| {
            let (ledger, alive) = (ledger.clone(), alive.clone());
            async move {
                // The run is in the ledger from its start; its end is set
                // when it returns, or when it is cut short (its timeout, or
                // its environment's death) and dropped.
                let run =
                    LedgerRun::start(&ledger, ctx.id().clone(), ctx.attempt(), clock, host, alive);
                let ms = args["ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let fails = args["fail"].as_bool().unwrap_or(false)
                    || u64::from(ctx.attempt()) <= args["fail_first"].as_u64().unwrap_or(0);
                let outcome = if fails {
                    Err(JobFailure::msg(format!(
                        "planned failure of run {}",
                        ctx.attempt()
                    )))
                } else {
                    mix::result_of(&ctx).await
                };
                run.end(outcome.is_ok());
                outcome
            }
        });
        hangar::Worker::new(&client, registry).with_name(format!("sim-env-{}", env.id))
    })
}

/// A run in the ledger: started when made, ended by [`LedgerRun::end`] or,
/// cut short, when dropped. Handlers run in tasks of their own, which
/// outlive an invocation that crashed: a run whose environment died has
/// not succeeded, whatever its task does after.
struct LedgerRun {
    ledger: Arc<Mutex<Vec<Run>>>,
    at: usize,
    clock: VirtualClock,
    alive: Arc<AtomicBool>,
}

impl LedgerRun {
    fn start(
        ledger: &Arc<Mutex<Vec<Run>>>,
        job: JobId,
        attempt: u32,
        clock: VirtualClock,
        host: crate::time::SkewedClock,
        alive: Arc<AtomicBool>,
    ) -> Self {
        let mut runs = ledger.lock().expect("one thread");
        let start = clock.now_ms();
        runs.push(Run {
            job,
            attempt,
            start,
            end: i64::MAX,
            ok: false,
            host_start: hangar::Clock::now(&host).timestamp_millis(),
        });
        LedgerRun {
            ledger: ledger.clone(),
            at: runs.len() - 1,
            clock,
            alive,
        }
    }

    fn end(self, ok: bool) {
        self.ledger.lock().expect("one thread")[self.at].ok =
            ok && self.alive.load(Ordering::SeqCst);
    }
}

impl Drop for LedgerRun {
    fn drop(&mut self) {
        let mut runs = self.ledger.lock().expect("one thread");
        let run = &mut runs[self.at];
        if run.end == i64::MAX {
            run.end = self.clock.now_ms();
        }
    }
}

/// Creates the mix at the seeded pace, [`CREATORS`] at a time, pausing
/// the queue for 5 s at 30 % of it; the jobs the mix leaves to batches go
/// in batches of [`BATCH_SIZE`]. One job in fifty comes from the client
/// that dies after its writes.
async fn create_mix(mix: &Mix, dying: &Mix, world: &SharedWorld, options: &Options) {
    let mut batch = Batch::new().description("sim");
    let mut batches = 0;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..options.jobs {
        let gap = {
            let mut w = world.lock().expect("one thread");
            -(1.0 - w.rng.random::<f64>()).ln() / options.rate
        };
        tokio::time::sleep(Duration::from_secs_f64(gap)).await;
        if i == options.jobs * 3 / 10 {
            let client = mix.client.clone();
            set.spawn(async move {
                pause_for_a_while(&client).await;
                None
            });
        }
        while set.len() >= CREATORS {
            add_to_batch(&mut set, &mut batch).await;
        }
        let creator = if i % 50 == 7 { dying } else { mix };
        set.spawn(creator.clone().create(i));
        if batch.len() >= BATCH_SIZE {
            let full = std::mem::replace(&mut batch, Batch::new().description("sim"));
            mix.start_batch(full, batches).await;
            batches += 1;
        }
    }
    while !set.is_empty() {
        add_to_batch(&mut set, &mut batch).await;
    }
    if !batch.is_empty() {
        mix.start_batch(batch, batches).await;
    }
}

/// Waits for the next creation to end; a job it leaves to a batch joins
/// `batch`.
async fn add_to_batch(set: &mut tokio::task::JoinSet<Option<NewJob>>, batch: &mut Batch) {
    if let Some(Some(job)) = set.join_next().await.map(|r| r.expect("a creation")) {
        let taken = std::mem::take(batch);
        *batch = taken.enqueue(job).expect("a batch job");
    }
}

/// The state of the job whose item key is `key`, as an observer sees it.
fn state_of(item: &crate::dynamodb::value::Item) -> Option<State> {
    match item.get("state") {
        Some(Av::S(s)) => State::from_str(s).ok(),
        _ => None,
    }
}

/// Waits (in virtual time, looking every 30 s) until every job of the
/// plan reached the state it must end in; false if some had not after 12
/// hours. It looks into the model as an observer outside AWS would, so
/// that its looks are neither requests nor billed.
async fn wait_for_ends(world: &SharedWorld, table: &str, plan: &Mutex<Plan>) -> bool {
    let mut pending: Vec<(String, Want)> = plan
        .lock()
        .expect("one thread")
        .want
        .iter()
        .map(|(id, (want, _))| (format!("job#{id}"), *want))
        .collect();
    pending.sort_by(|a, b| a.0.cmp(&b.0));
    for _ in 0..(12 * 120) {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let w = world.lock().expect("one thread");
        pending.retain(|(key, want)| {
            let state = w.dynamodb.peek(table, key).and_then(state_of);
            !state.is_some_and(|s| want.reached_by(s))
        });
        if pending.is_empty() {
            return true;
        }
    }
    false
}

/// The recurring job's occurrences whose state `which` picks, as an
/// observer sees them.
fn occurrences(world: &SharedWorld, table: &str, which: impl Fn(State) -> bool) -> Vec<JobId> {
    let prefix = format!("job#{}:", mix::RECURRING);
    let w = world.lock().expect("one thread");
    w.dynamodb
        .peek_prefix(table, &prefix)
        .filter(|(_, item)| state_of(item).is_some_and(&which))
        .filter_map(|(key, _)| JobId::parse(key.trim_start_matches("job#")).ok())
        .collect()
}

/// Lets the workers take what is still in flight (a crashed invocation's
/// messages come back after the visibility timeout) and run the
/// occurrences that came due before the recurring job's removal.
async fn drain(world: &SharedWorld, config: &hangar::Config, clock: VirtualClock) {
    let url = &config.queue_urls[QUEUE];
    for _ in 0..60 {
        let (visible, in_flight, delayed) = world
            .lock()
            .expect("one thread")
            .sqs
            .counts(url, clock.now_ms());
        let to_run = occurrences(world, &config.table, |s| {
            matches!(s, State::Scheduled | State::Enqueued | State::Processing)
        });
        if visible + in_flight + delayed == 0 && to_run.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// The store's final word on every job of the plan.
async fn read_all(client: &Client, plan: &Plan) -> HashMap<JobId, JobRecord> {
    let mut ids: Vec<JobId> = plan.want.keys().cloned().collect();
    ids.sort();
    let mut jobs = HashMap::new();
    for chunk in ids.chunks(100) {
        for j in client.get_many(chunk).await.expect("a read") {
            jobs.insert(j.id.clone(), j);
        }
    }
    jobs
}
