//! How many jobs a second one stack takes: fire-and-forget jobs created
//! at a steady rate by many producers, run by a warm event source mapping
//! (at its maximum concurrency from the start), on a table whose
//! partitions hold to DynamoDB's limits (1,000 write units and 3,000 read
//! units a second per partition key, on the table and on each index). A
//! rate is sustained when, after the creation stops, no more than a
//! second's worth of jobs is left unstarted; otherwise the throttled
//! partitions say what held it back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{NewJob, Registry};
use serde_json::json;

use crate::lambda::{self, Counters, Mapping};
use crate::net::Faults;
use crate::stack::{QUEUE, Stack, sim_client};

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// `HANGAR_SHARDS`.
    pub shards: u32,
    /// Jobs created a second.
    pub rate: u32,
    /// How long they are created.
    pub duration: Duration,
    /// The mapping's maximum concurrency.
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub created: usize,
    /// Jobs started by the end of the creation, and by a second after.
    pub started: usize,
    pub started_a_second_after: usize,
    /// DynamoDB requests, and those throttled.
    pub requests: u64,
    pub throttled: u64,
    /// Throttled requests by partition (`<table>[/<index>] <key> <reason>`),
    /// most first.
    pub throttled_at: Vec<(String, u64)>,
    pub write_units: f64,
    pub read_units: f64,
    /// SQS requests.
    pub sqs_requests: u64,
}

impl Report {
    /// Whether the stack kept up: a second after the creation stopped, at
    /// most a second's worth of jobs was left unstarted.
    pub fn sustained(&self, rate: u32) -> bool {
        self.created - self.started_a_second_after <= rate as usize
    }
}

const KIND: &str = "scale.noop";

pub fn run(options: &Options) -> Report {
    crate::stack::block_on(run_rate(options.clone()))
}

async fn run_rate(options: Options) -> Report {
    let mut stack = Stack::new("scale", options.seed, Faults::none()).await;
    stack.config.shards = options.shards;
    let Stack {
        clock,
        world,
        sdk,
        config,
        settings,
        run_no,
    } = stack;
    // Billing from here on: the stack's setup is not the workload's.
    let before = world.lock().expect("one thread").dynamodb.billing().clone();
    let started: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mapping = Mapping {
        queue: QUEUE.into(),
        queue_url: config.queue_urls[QUEUE].clone(),
        batch_size: 10,
        window: Duration::ZERO,
        max_concurrency: options.concurrency,
        timeout: Duration::from_secs(900),
        visibility: settings.visibility_timeout,
        crash_chance: 0.0,
        start_concurrency: options.concurrency,
    };
    let invoke: lambda::Invoke = {
        let (sdk, config, started) = (sdk.clone(), config.clone(), started.clone());
        lambda::warm(move |env| {
            let (client, _) = sim_client(
                &sdk,
                config.clone(),
                Arc::new(clock),
                &format!("scale-{run_no}-env-{}", env.id),
            );
            let started = started.clone();
            let registry = Registry::new().raw(KIND, move |_args, _ctx| {
                let started = started.clone();
                async move {
                    started.lock().expect("one thread").push(clock.now_ms());
                    Ok(())
                }
            });
            hangar::Worker::new(&client, registry).with_name(format!("scale-{}", env.id))
        })
    };
    let esm = tokio::spawn(lambda::run(
        world.clone(),
        clock,
        mapping,
        invoke,
        stop.clone(),
        Arc::new(Counters::default()),
    ));
    // Producers: every 10 ms, a hundredth of the second's jobs, each
    // enqueued by its own task (many processes, as at scale).
    let (producer, _) = sim_client(
        &sdk,
        config.clone(),
        Arc::new(clock),
        &format!("scale-{run_no}-producers"),
    );
    let start_ms = clock.now_ms();
    let ticks = options.duration.as_millis() as u64 / 10;
    let mut created = 0usize;
    let mut creations = tokio::task::JoinSet::new();
    for tick in 0..ticks {
        let due = ((tick + 1) * u64::from(options.rate) / 100) as usize;
        while created < due {
            let producer = producer.clone();
            creations.spawn(async move {
                let _ = producer
                    .enqueue(NewJob::new(KIND, json!({"n": created})))
                    .await;
            });
            created += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_ms = start_ms + options.duration.as_millis() as i64;
    let count = |until: i64| {
        started
            .lock()
            .expect("one thread")
            .iter()
            .filter(|t| **t <= until)
            .count()
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    while creations.join_next().await.is_some() {}
    stop.store(true, Ordering::SeqCst);
    let _ = esm.await;
    let w = world.lock().expect("one thread");
    let billing = w.dynamodb.billing();
    let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    let mut throttled_at: Vec<(String, u64)> = billing
        .throttled_at
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n - before.throttled_at.get(k).copied().unwrap_or(0),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    throttled_at.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let units = |f: fn(&crate::dynamodb::Usage) -> f64| {
        let now: f64 = billing
            .tables
            .values()
            .chain(billing.indexes.values())
            .map(f)
            .sum();
        let then: f64 = before
            .tables
            .values()
            .chain(before.indexes.values())
            .map(f)
            .sum();
        now - then
    };
    Report {
        created,
        started: count(end_ms),
        started_a_second_after: count(end_ms + 1_000),
        requests: sum(&billing.requests) - sum(&before.requests),
        throttled: sum(&billing.throttled) - sum(&before.throttled),
        throttled_at,
        write_units: units(|u| u.write_units),
        read_units: units(|u| u.read_units),
        sqs_requests: w.sqs.requests().values().sum(),
    }
}
