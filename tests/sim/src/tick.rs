//! The timer's tick on a large table: a stack whose table holds `size`
//! finished jobs (copies of one that ran, loaded as a restore would) and
//! a few due ones, ticked once; what the tick asked of DynamoDB and how
//! long it took, against the same tick on a table of the few alone. A
//! tick reads index partitions by due time, so the finished jobs must
//! cost it nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hangar::NewJob;
use serde_json::json;

use crate::dynamodb::Billing;
use crate::dynamodb::value::Av;
use crate::net::Faults;
use crate::stack::{QUEUE, Stack};
use crate::time::VirtualClock;
use crate::world::SharedWorld;

#[derive(Debug, Clone)]
pub struct Report {
    /// Items in the table when it ticked.
    pub items: usize,
    /// DynamoDB requests of the tick, by operation.
    pub requests: BTreeMap<String, u64>,
    pub read_units: f64,
    pub write_units: f64,
    /// Jobs the tick handed to SQS.
    pub handed_off: usize,
    /// The tick's time in the simulation (its requests' latency) and on
    /// this machine.
    pub simulated: Duration,
    pub wall: Duration,
}

/// Ticks once on a table of `size` finished jobs and 20 Scheduled ones
/// due within the tick's reach.
pub fn run(size: usize) -> Report {
    crate::stack::block_on(tick_on(size))
}

async fn tick_on(size: usize) -> Report {
    let stack = Stack::new("tick", 3, Faults::none()).await;
    let (clock, world, config) = (stack.clock, stack.world.clone(), stack.config.clone());
    let (client, _) = stack.client("client");
    // One job run to its end by a worker: the template of the finished
    // jobs.
    let done = client
        .enqueue(NewJob::new("tick.noop", json!({"n": 0})))
        .await
        .expect("a job");
    let worker = hangar::Worker::new(
        &client,
        hangar::Registry::new().raw("tick.noop", |_, _| async { Ok(()) }),
    );
    let received = client_receive(&world, &config, clock);
    worker.handle_batch(received, None).await;
    let template = world
        .lock()
        .expect("one thread")
        .dynamodb
        .peek(&config.table, &format!("job#{done}"))
        .cloned()
        .expect("the finished job");
    {
        let mut w = world.lock().expect("one thread");
        let now = clock.now_ms();
        let copies = (0..size).map(|n| {
            let mut item = template.clone();
            item.insert("pk".into(), Av::S(format!("job#{done}-{n}")));
            item
        });
        w.dynamodb.load(&config.table, copies, now);
    }
    // Due jobs: scheduled 20 minutes ahead, handed off by a tick 10
    // minutes from now.
    for n in 0..20 {
        client
            .schedule(
                NewJob::new("tick.noop", json!({"n": n})),
                Duration::from_secs(20 * 60),
            )
            .await
            .expect("a scheduled job");
    }
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    let before: Billing = world.lock().expect("one thread").dynamodb.billing().clone();
    let (t0, wall0) = (clock.now_ms(), Instant::now());
    let report = hangar::Timer::new(&client)
        .tick(Duration::from_secs(50))
        .await
        .expect("a tick");
    let (simulated, wall) = (clock.now_ms() - t0, wall0.elapsed());
    let w = world.lock().expect("one thread");
    let after = w.dynamodb.billing();
    let units = |b: &Billing, f: fn(&crate::dynamodb::Usage) -> f64| -> f64 {
        b.tables.values().chain(b.indexes.values()).map(f).sum()
    };
    Report {
        items: size + 21,
        requests: after
            .requests
            .iter()
            .map(|(op, n)| {
                (
                    op.clone(),
                    n - before.requests.get(op).copied().unwrap_or(0),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        read_units: units(after, |u| u.read_units) - units(&before, |u| u.read_units),
        write_units: units(after, |u| u.write_units) - units(&before, |u| u.write_units),
        handed_off: report.handed_off.len(),
        simulated: Duration::from_millis(simulated.max(0) as u64),
        wall,
    }
}

/// What the queue holds now, as the mapping would hand it to a worker.
pub(crate) fn client_receive(
    world: &SharedWorld,
    config: &hangar::Config,
    clock: VirtualClock,
) -> Vec<hangar::Delivery> {
    let mut guard = world.lock().expect("one thread");
    let w = &mut *guard;
    w.sqs
        .receive_for_lambda(
            &config.queue_urls[QUEUE],
            10,
            960_000,
            clock.now_ms(),
            &mut w.rng,
        )
        .into_iter()
        .map(|m| hangar::Delivery {
            message_id: m.message_id,
            body: m.body,
            queue: QUEUE.into(),
            attributes: m.attributes,
        })
        .collect()
}
