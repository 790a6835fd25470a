//! One seed's run: a stack on the models (table and queue made by the
//! library's own setup), clients creating a seeded mix of jobs, the worker
//! under the modelled event source mapping and the timer under the
//! modelled scheduler, all in virtual time on one thread; then the check.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hangar::{Client, ContinueOn, JobFailure, JobId, NewJob, Registry, RetryPolicy, State};
use rand::Rng;
use serde_json::json;

use crate::check::{self, Planned, Run};
use crate::dynamodb::DynamoDb;
use crate::lambda::{self, Counters, Mapping};
use crate::net::{Faults, Network};
use crate::scheduler::{self, Ticks};
use crate::sqs::Sqs;
use crate::time::VirtualClock;
use crate::world::{SharedWorld, World};

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
    pub tail: Vec<String>,
}

const EPOCH: &str = "2026-01-05T00:00:00Z";
const QUEUE: &str = "default";
/// The concurrency key's limit, and the rate key's starts per second.
pub const CONC_LIMIT: u32 = 3;
pub const RATE_LIMIT: u32 = 20;

/// Runs one seed to its end, on a runtime of its own whose clock is
/// paused (it moves only when every task waits).
pub fn run(options: &Options) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(run_seed(options.clone()))
}

async fn run_seed(options: Options) -> Report {
    let epoch: DateTime<Utc> = EPOCH.parse().expect("an instant");
    let clock = VirtualClock::start(epoch);
    hangar::entropy::install(options.seed, Arc::new(clock));
    fastrand::seed(options.seed);
    let world: SharedWorld = Arc::new(Mutex::new(World::new(
        options.seed,
        DynamoDb::new(Default::default()),
        Sqs::new(Default::default()),
    )));
    let sdk = crate::net::sdk_config(Network::new(world.clone(), clock, options.faults), clock);
    let settings = hangar::setup::QueueSettings {
        visibility_timeout: Duration::from_secs(960),
        max_receive_count: 5,
    };
    let mut config = hangar::Config::new("sim");
    let urls = hangar::setup::ensure_with(&sdk, &config, &[QUEUE], &settings)
        .await
        .expect("the stack is set up");
    config.queue_urls = urls.into_iter().collect();
    RUNS.fetch_add(1, Ordering::SeqCst);
    let client = sim_client(&sdk, config.clone(), Arc::new(clock), "client");
    // A client whose process dies between its writes and its sends: the
    // jobs it creates are in the table with no message; the timer must
    // send them.
    let dying = {
        let faults = Faults {
            sends_lost: true,
            ..options.faults
        };
        let sdk = crate::net::sdk_config(Network::new(world.clone(), clock, faults), clock);
        sim_client(&sdk, config.clone(), Arc::new(clock), "dying-client")
    };
    let ledger: Arc<Mutex<Vec<Run>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let ticks = Arc::new(AtomicUsize::new(0));
    let mapping = Mapping {
        queue: QUEUE.into(),
        queue_url: config.queue_urls[QUEUE].clone(),
        batch_size: 10,
        window: Duration::ZERO,
        max_concurrency: 50,
        timeout: Duration::from_secs(900),
        visibility: settings.visibility_timeout,
        crash_chance: options.crash_chance,
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
        ),
        stop.clone(),
        counters.clone(),
    ));
    let sched = tokio::spawn(scheduler::run(
        world.clone(),
        hangar::Timer::new(&client),
        options.ticks,
        stop.clone(),
        ticks.clone(),
    ));
    let started = clock.now();
    let planned = create_mix(&client, &dying, &world, &options).await;
    let finished = wait_for_ends(&client, &planned).await;
    let simulated = (clock.now() - started).to_std().unwrap_or_default();
    stop.store(true, Ordering::SeqCst);
    let _ = esm.await;
    let _ = sched.await;
    let jobs = read_all(&client, &planned).await;
    let runs = ledger.lock().expect("one thread").clone();
    let mut violations = check::check(&planned, &jobs, &runs);
    if !finished {
        violations.insert(
            0,
            "not every job reached its end within the run's time".into(),
        );
    }
    let w = world.lock().expect("one thread");
    let mut figures = BTreeMap::new();
    figures.insert("jobs".into(), planned.len().to_string());
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
    figures.insert("ticks".into(), ticks.load(Ordering::SeqCst).to_string());
    figures.insert("simulated_s".into(), simulated.as_secs().to_string());
    let billing = w.dynamodb.billing();
    for (name, usage) in billing.tables.iter().chain(&billing.indexes) {
        figures.insert(format!("wcu:{name}"), format!("{:.0}", usage.write_units));
        figures.insert(format!("rcu:{name}"), format!("{:.0}", usage.read_units));
    }
    Report {
        seed: options.seed,
        hash: w.trace.hash(),
        calls: w.trace.lines(),
        violations,
        simulated,
        figures,
        tail: w.trace.tail().cloned().collect(),
    }
}

/// A client on the simulated SDK with the virtual clock, retrying as
/// Hangar's clients do.
fn sim_client(
    sdk: &aws_config::SdkConfig,
    config: hangar::Config,
    clock: hangar::clock::SharedClock,
    process: &str,
) -> Client {
    let retry = hangar::config::retry_config();
    // The SDK's retry token bucket is shared by every client of a
    // partition in a process; each simulated process has its own, and no
    // run inherits another's.
    let partition = aws_smithy_runtime::client::retries::RetryPartition::new(format!(
        "sim-{}-{process}",
        RUNS.load(Ordering::SeqCst)
    ));
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .retry_partition(partition.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .retry_config(retry)
            .retry_partition(partition)
            .build(),
    );
    Client::from_clients(ddb, sqs, config, clock)
}

/// Runs started in this process, to keep each run's SDK state its own.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// How far a host's clock may be off (EC2 and Lambda hosts keep time
/// with the Amazon Time Sync Service, well within this).
const MAX_SKEW_MS: i64 = 1_000;

/// The function the mapping invokes: a worker in a fresh environment
/// whose handler records each run in the ledger, unless the environment
/// died before the run ended (then no one sees its end).
fn invoker(
    sdk: aws_config::SdkConfig,
    config: hangar::Config,
    world: SharedWorld,
    clock: VirtualClock,
    ledger: Arc<Mutex<Vec<Run>>>,
) -> lambda::Invoke {
    // Environments started, to name each one's worker.
    let environments = Arc::new(AtomicUsize::new(0));
    Arc::new(move |batch, deadline, alive| {
        let (ledger, alive2) = (ledger.clone(), alive.clone());
        let env = environments.fetch_add(1, Ordering::SeqCst);
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
        let client = sim_client(&sdk, config.clone(), Arc::new(host), &format!("env-{env}"));
        let registry = Registry::new().raw("sim.run", move |args, ctx| {
            let (ledger, alive) = (ledger.clone(), alive2.clone());
            async move {
                let start = clock.now_ms();
                let host_start = hangar::Clock::now(&host).timestamp_millis();
                let ms = args["ms"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let fails = args["fail"].as_bool().unwrap_or(false)
                    || u64::from(ctx.attempt()) <= args["fail_first"].as_u64().unwrap_or(0);
                if alive.load(Ordering::SeqCst) {
                    ledger.lock().expect("one thread").push(Run {
                        job: ctx.id().clone(),
                        attempt: ctx.attempt(),
                        start,
                        host_start,
                        end: clock.now_ms(),
                        ok: !fails,
                    });
                }
                if fails {
                    return Err(JobFailure::msg(format!(
                        "planned failure of run {}",
                        ctx.attempt()
                    )));
                }
                Ok(())
            }
        });

        let worker = hangar::Worker::new(&client, registry).with_name(format!("sim-env-{env}"));
        Box::pin(async move { worker.handle_batch(batch, Some(deadline)).await })
    })
}

/// Creates the mix at the seeded pace; returns what each job must end as.
async fn create_mix(
    client: &Client,
    dying: &Client,
    world: &SharedWorld,
    options: &Options,
) -> Vec<Planned> {
    let mut planned: Vec<Planned> = Vec::with_capacity(options.jobs);
    for i in 0..options.jobs {
        let (gap, pick, ms, delay, fail_first) = {
            let mut w = world.lock().expect("one thread");
            let r = &mut w.rng;
            let gap = -(1.0 - r.random::<f64>()).ln() / options.rate;
            (
                Duration::from_secs_f64(gap),
                r.random_range(0..100u32),
                r.random_range(50..3_000u64),
                Duration::from_secs(r.random_range(1..3_600)),
                r.random_range(0..3u64),
            )
        };
        tokio::time::sleep(gap).await;
        let args = json!({"ms": ms, "i": i});
        let quick = RetryPolicy {
            attempts: 3,
            delays_secs: vec![5, 30, 120],
            ..RetryPolicy::default()
        };
        let (job, want, max_runs, tags) = match pick {
            0..=49 => (NewJob::new("sim.run", args), State::Succeeded, 1, ""),
            50..=59 => (
                NewJob::new(
                    "sim.run",
                    json!({"ms": ms, "i": i, "fail_first": fail_first}),
                )
                .retry(quick),
                State::Succeeded,
                4,
                "",
            ),
            60..=64 => (
                NewJob::new("sim.run", json!({"ms": ms, "i": i, "fail": true})).retries(0),
                State::Failed,
                1,
                "",
            ),
            65..=74 => (
                NewJob::new("sim.run", args).concurrency("sim-c", CONC_LIMIT),
                State::Succeeded,
                1,
                "conc",
            ),
            75..=79 => (
                NewJob::new("sim.run", args).rate("sim-r", RATE_LIMIT, Duration::from_secs(1)),
                State::Succeeded,
                1,
                "rate",
            ),
            80..=89 => {
                let id = match client.schedule(NewJob::new("sim.run", args), delay).await {
                    Ok(id) => id,
                    Err(e) => panic!("schedule failed: {e}"),
                };
                planned.push(Planned::new(id, State::Succeeded, 1, ""));
                continue;
            }
            _ => match planned
                .iter()
                .rev()
                .find(|p| p.want == State::Succeeded && p.tags.is_empty())
            {
                Some(parent) => {
                    let parent = parent.id.clone();
                    let id = client
                        .continue_with(&parent, NewJob::new("sim.run", args), ContinueOn::Succeeded)
                        .await
                        .expect("a continuation");
                    planned.push(Planned::new(id, State::Succeeded, 1, ""));
                    continue;
                }
                None => (NewJob::new("sim.run", args), State::Succeeded, 1, ""),
            },
        };
        // A few plain jobs come from a client that dies after its write.
        let creator = if pick < 2 { dying } else { client };
        let id = creator.enqueue(job).await.expect("an enqueue");
        planned.push(Planned::new(id, want, max_runs, tags));
    }
    planned
}

/// Waits (in virtual time, reading the store every 30 s) until every job
/// reached the state it must end in; false if some had not after 12 hours.
async fn wait_for_ends(client: &Client, planned: &[Planned]) -> bool {
    let want: BTreeMap<&JobId, State> = planned.iter().map(|p| (&p.id, p.want)).collect();
    let ids: Vec<JobId> = planned.iter().map(|p| p.id.clone()).collect();
    for _ in 0..(12 * 120) {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let mut there = 0;
        for chunk in ids.chunks(100) {
            if let Ok(jobs) = client.get_many(chunk).await {
                there += jobs
                    .iter()
                    .filter(|j| want.get(&j.id) == Some(&j.state))
                    .count();
            }
        }
        if there == ids.len() {
            return true;
        }
    }
    false
}

async fn read_all(client: &Client, planned: &[Planned]) -> BTreeMap<JobId, hangar::JobRecord> {
    let ids: Vec<JobId> = planned.iter().map(|p| p.id.clone()).collect();
    let mut jobs = BTreeMap::new();
    for chunk in ids.chunks(100) {
        for j in client.get_many(chunk).await.expect("a read") {
            jobs.insert(j.id.clone(), j);
        }
    }
    jobs
}
