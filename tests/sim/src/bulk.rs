//! A bulk requeue on a large state: a stack whose table holds `size`
//! Failed jobs, all requeued by [`hangar::Client::bulk`] at a bounded
//! rate, then run by a worker. What the action asked of DynamoDB and SQS
//! per job, how long it took at its rate, whether DynamoDB throttled it,
//! and that every job ran once more and Succeeded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hangar::{BulkAction, ListQuery, Registry, State};

use crate::dynamodb::Billing;
use crate::net::Faults;
use crate::stack::Stack;
use crate::tick::client_receive;

#[derive(Debug, Clone)]
pub struct Report {
    /// Failed jobs in the table.
    pub jobs: usize,
    /// Jobs the action requeued, and refused.
    pub changed: usize,
    pub refused: usize,
    /// Steps it took.
    pub steps: usize,
    /// Requests of the action, by operation (DynamoDB and SQS).
    pub requests: BTreeMap<String, u64>,
    pub read_units: f64,
    /// Write units on the table and on its index.
    pub table_write_units: f64,
    pub index_write_units: f64,
    /// Requests DynamoDB throttled during the action.
    pub throttled: u64,
    /// The action's time in the simulation and on this machine.
    pub simulated: Duration,
    pub wall: Duration,
    /// Jobs that then ran and Succeeded, each with its one new run.
    pub succeeded: usize,
}

/// Requeues every one of `size` Failed jobs at `rate` jobs a second, then
/// runs them.
pub fn run(size: usize, rate: f64) -> Report {
    crate::stack::block_on(requeue(size, rate))
}

async fn requeue(size: usize, rate: f64) -> Report {
    let stack = Stack::new("bulk", 5, Faults::none()).await;
    let (clock, world, config) = (stack.clock, stack.world.clone(), stack.config.clone());
    let (client, _) = stack.client("client");
    let jobs: Vec<hangar::JobRecord> = (0..size)
        .map(|i| hangar::client::finished_record(i, State::Failed, clock.now()))
        .collect();
    client
        .seed(&jobs)
        .await
        .expect("the Failed jobs are written");
    // Past the index's lag: the listing sees every seeded job.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let billed = |w: &crate::world::World| -> (Billing, BTreeMap<String, u64>) {
        (w.dynamodb.billing().clone(), w.sqs.requests().clone())
    };
    let before = billed(&world.lock().expect("one thread"));
    let (t0, wall0) = (clock.now_ms(), Instant::now());
    let progress = client
        .bulk(BulkAction::Requeue, ListQuery::state(State::Failed))
        .rate(rate)
        .run(|_, _| {})
        .await
        .map_err(|(e, _)| e)
        .expect("the bulk requeue");
    let (simulated, wall) = (clock.now_ms() - t0, wall0.elapsed());
    let after = billed(&world.lock().expect("one thread"));

    // Run what the action enqueued.
    let mut registry = Registry::new();
    for k in 0..5 {
        registry = registry.raw(format!("kind-{k}"), |_, _| async { Ok(()) });
    }
    let worker = hangar::Worker::new(&client, registry);
    loop {
        let batch = client_receive(&world, &config, clock);
        if batch.is_empty() {
            break;
        }
        worker.handle_batch(batch, None).await;
    }
    let ids: Vec<hangar::JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    let mut succeeded = 0;
    for chunk in ids.chunks(100) {
        for job in client.get_many(chunk).await.expect("a read") {
            let runs = job
                .history
                .iter()
                .filter(|h| h.state == State::Processing)
                .count();
            if job.state == State::Succeeded && runs == 2 && job.attempt == 1 {
                succeeded += 1;
            }
        }
    }
    let units = |b: &Billing, f: fn(&crate::dynamodb::Usage) -> f64| -> f64 {
        b.tables.values().chain(b.indexes.values()).map(f).sum()
    };
    let index_writes = |b: &Billing| -> f64 { b.indexes.values().map(|u| u.write_units).sum() };
    let mut requests = BTreeMap::new();
    for (op, n) in after.0.requests.iter().chain(&after.1) {
        let was = before.0.requests.get(op).or(before.1.get(op)).copied();
        let n = n - was.unwrap_or(0);
        if n > 0 {
            requests.insert(op.clone(), n);
        }
    }
    let throttled = |b: &Billing| b.throttled.values().sum::<u64>();
    Report {
        jobs: size,
        changed: progress.changed,
        refused: progress.refused,
        steps: progress.steps,
        requests,
        read_units: units(&after.0, |u| u.read_units) - units(&before.0, |u| u.read_units),
        table_write_units: units(&after.0, |u| u.write_units)
            - units(&before.0, |u| u.write_units)
            - (index_writes(&after.0) - index_writes(&before.0)),
        index_write_units: index_writes(&after.0) - index_writes(&before.0),
        throttled: throttled(&after.0) - throttled(&before.0),
        simulated: Duration::from_millis(simulated.max(0) as u64),
        wall,
        succeeded,
    }
}
