//! Lambda's SQS event source mapping as the worker meets it (AWS Lambda
//! Developer Guide, "Using Lambda with Amazon SQS"): pollers long-poll the
//! queue and invoke the function with batches of up to `batch_size`
//! messages, gathered for up to the batching window; concurrency starts
//! at 5 and grows by up to 300 a minute while messages wait, up to the
//! mapping's maximum concurrency; with `ReportBatchItemFailures` the
//! messages the function names stay on the queue and the rest are deleted;
//! an invocation that times out or crashes deletes nothing, so its whole
//! batch comes back after the visibility timeout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::time::VirtualClock;
use crate::world::SharedWorld;

/// Concurrency a new mapping starts with, and its growth per minute (AWS:
/// "Lambda ... scales up by 300 concurrent invocations per minute" for
/// standard queues, starting from five pollers).
pub const START_CONCURRENCY: usize = 5;
const GROWTH_PER_MINUTE: usize = 300;
/// Longest long poll.
const LONG_POLL: Duration = Duration::from_secs(20);

/// An execution environment: its number, and its life, which a crash or
/// a timeout ends (what its handlers do after that is seen by no one).
/// Lambda keeps an environment between invocations ("Understanding the
/// Lambda execution environment lifecycle": after an invocation the
/// environment is frozen and "Lambda reuses the execution environment"
/// for a later one), so a poller invokes the same one until it dies.
#[derive(Debug, Clone)]
pub struct Environment {
    pub id: usize,
    pub alive: Arc<AtomicBool>,
}

impl Environment {
    fn start(ids: &AtomicUsize) -> Self {
        Environment {
            id: ids.fetch_add(1, Ordering::SeqCst),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }
}

/// What the mapping invokes: the function with a batch, the invocation's
/// deadline and its environment; it answers the message ids to deliver
/// again.
pub type Invoke = std::sync::Arc<
    dyn Fn(
            Vec<hangar::Delivery>,
            chrono::DateTime<chrono::Utc>,
            &Environment,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send>>
        + Send
        + Sync,
>;

/// The function as a worker per environment: `start` makes an
/// environment's worker (its clients, its handlers) at its first
/// invocation, as a cold start does, and later invocations in it use the
/// same worker, with what it keeps between batches; a dead environment's
/// worker is dropped.
pub fn warm(start: impl Fn(&Environment) -> hangar::Worker + Send + Sync + 'static) -> Invoke {
    let workers: Mutex<BTreeMap<usize, (Environment, hangar::Worker)>> = Mutex::default();
    Arc::new(move |batch, deadline, env| {
        let worker = {
            let mut workers = workers.lock().expect("one thread");
            if !workers.contains_key(&env.id) {
                // A cold start: the workers of environments that died go.
                workers.retain(|_, (e, _)| e.alive.load(Ordering::SeqCst));
                workers.insert(env.id, (env.clone(), start(env)));
            }
            workers[&env.id].1.clone()
        };
        Box::pin(async move { worker.handle_batch(batch, Some(deadline)).await })
    })
}

/// One queue's mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue: String,
    pub queue_url: String,
    pub batch_size: usize,
    pub window: Duration,
    pub max_concurrency: usize,
    /// The function's timeout.
    pub timeout: Duration,
    /// The queue's visibility timeout.
    pub visibility: Duration,
    /// The chance an invocation crashes (out of memory, a killed
    /// environment) at a seeded instant of its run.
    pub crash_chance: f64,
    /// Concurrency at the start: Lambda's 5, or, for a mapping long at
    /// work, its maximum.
    pub start_concurrency: usize,
}

/// What the mappings did.
#[derive(Debug, Default)]
pub struct Counters {
    pub invocations: AtomicUsize,
    pub crashes: AtomicUsize,
    pub timeouts: AtomicUsize,
    pub messages: AtomicUsize,
}

/// Runs a mapping until `stop`: a scaler and up to `max_concurrency`
/// pollers, each invoking `invoke` with a batch and the invocation's
/// deadline, and deleting what it does not report as failed.
pub async fn run(
    world: SharedWorld,
    clock: VirtualClock,
    mapping: Mapping,
    invoke: Invoke,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let allowed = Arc::new(AtomicUsize::new(
        mapping.start_concurrency.min(mapping.max_concurrency),
    ));
    let mut pollers = tokio::task::JoinSet::new();
    let mut started = 0;
    let environments = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        while started < allowed.load(Ordering::SeqCst) {
            started += 1;
            pollers.spawn(poll(
                world.clone(),
                clock,
                mapping.clone(),
                invoke.clone(),
                stop.clone(),
                counters.clone(),
                environments.clone(),
            ));
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let waiting = world
            .lock()
            .expect("one thread")
            .sqs
            .counts(&mapping.queue_url, clock.now_ms())
            .0;
        if waiting > 0 {
            let grown =
                (allowed.load(Ordering::SeqCst) + GROWTH_PER_MINUTE).min(mapping.max_concurrency);
            allowed.store(grown, Ordering::SeqCst);
        }
    }
    while pollers.join_next().await.is_some() {}
}

async fn poll(
    world: SharedWorld,
    clock: VirtualClock,
    mapping: Mapping,
    invoke: Invoke,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    environments: Arc<AtomicUsize>,
) {
    let mut env = Environment::start(&environments);
    let visibility_ms = mapping.visibility.as_millis() as i64;
    while !stop.load(Ordering::SeqCst) {
        let batch = gather(&world, clock, &mapping, visibility_ms, &stop).await;
        if batch.is_empty() {
            continue;
        }
        counters.invocations.fetch_add(1, Ordering::SeqCst);
        counters.messages.fetch_add(batch.len(), Ordering::SeqCst);
        let deliveries = batch
            .iter()
            .map(|m| hangar::Delivery {
                message_id: m.message_id.clone(),
                body: m.body.clone(),
                queue: mapping.queue.clone(),
                attributes: m.attributes.clone(),
            })
            .collect();
        let deadline = clock.now() + chrono::Duration::from_std(mapping.timeout).expect("in range");
        let crash_after = {
            let mut w = world.lock().expect("one thread");
            let chance: f64 = w.rng.random();
            (chance < mapping.crash_chance).then(|| {
                Duration::from_millis(w.rng.random_range(0..mapping.timeout.as_millis() as u64))
            })
        };
        let run = invoke(deliveries, deadline, &env);
        let limit = crash_after.unwrap_or(mapping.timeout).min(mapping.timeout);
        let failed = tokio::select! {
            biased;
            failed = run => Some(failed),
            _ = tokio::time::sleep(limit) => None,
        };
        let Some(failed) = failed else {
            // The environment is gone; the next batch starts another.
            env.alive.store(false, Ordering::SeqCst);
            env = Environment::start(&environments);
            let what = if crash_after.is_some_and(|c| c < mapping.timeout) {
                counters.crashes.fetch_add(1, Ordering::SeqCst);
                "crashed"
            } else {
                counters.timeouts.fetch_add(1, Ordering::SeqCst);
                "timed out"
            };
            let mut w = world.lock().expect("one thread");
            let now = clock.now_ms();
            w.trace.note(format!(
                "{now} lambda {} invocation {what}; its batch of {} comes back",
                mapping.queue,
                batch.len()
            ));
            continue;
        };
        let mut w = world.lock().expect("one thread");
        for m in batch.iter().filter(|m| !failed.contains(&m.message_id)) {
            w.sqs
                .delete_for_lambda(&mapping.queue_url, &m.receipt_handle);
        }
    }
}

/// A batch as the poller gathers it: what is visible now, then more until
/// the batch is full or the batching window is over; an empty queue is
/// long-polled (returning when a message is sent or comes out of its delay
/// or visibility timeout).
async fn gather(
    world: &SharedWorld,
    clock: VirtualClock,
    mapping: &Mapping,
    visibility_ms: i64,
    stop: &AtomicBool,
) -> Vec<crate::sqs::Received> {
    let window_end = clock.now() + chrono::Duration::from_std(mapping.window).expect("in range");
    let mut batch = Vec::new();
    loop {
        let (sent, next) = {
            let mut guard = world.lock().expect("one thread");
            let w = &mut *guard;
            let now = clock.now_ms();
            let more = w.sqs.receive_for_lambda(
                &mapping.queue_url,
                mapping.batch_size - batch.len(),
                visibility_ms,
                now,
                &mut w.rng,
            );
            batch.extend(more);
            (w.sent.clone(), w.sqs.next_event_ms(now))
        };
        let now = clock.now();
        if batch.len() >= mapping.batch_size || (!batch.is_empty() && now >= window_end) {
            return batch;
        }
        if stop.load(Ordering::SeqCst) {
            return batch;
        }
        let until = if batch.is_empty() {
            now + chrono::Duration::from_std(LONG_POLL).expect("in range")
        } else {
            window_end
        };
        let until = next
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or(until, |n| n.min(until));
        let wait = (until - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(1));
        tokio::select! {
            biased;
            _ = sent.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
