//! The cost table's scenarios in the simulation: what one job costs in
//! write and read units (billed by the DynamoDB model from DynamoDB's
//! rules) and in requests, on a fresh stack without faults, the worker
//! under the modelled event source mapping. The cost meter measures the
//! same scenarios on the emulator from the table's stream
//! (docs/architecture.md, "Costs per job"); two ways of counting, held
//! to one table by `tests/sim/tests/cost.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hangar::{Client, ContinueOn, JobFailure, JobId, NewJob, Registry, RetryPolicy, State};
use serde_json::json;

use crate::dynamodb::Billing;
use crate::dynamodb::value::Av;
use crate::lambda::{self, Counters, Mapping};
use crate::net::Faults;
use crate::stack::{QUEUE, Stack, sim_client};
use crate::world::SharedWorld;

/// Jobs (or pairs) per scenario; the bill is divided among them.
pub const N: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    FireAndForget,
    /// Scheduled an hour ahead: the timer hands it to SQS.
    Delayed,
    /// Fails once, retried after a second, then succeeds.
    RetryOnce,
    /// A job and its continuation (the pair).
    Continuation,
    /// A rate-limited job with room in its window.
    RateLimited,
    /// A job under a concurrency key, a slot free.
    ConcurrencyKey,
    /// A request sent to the queue by another producer.
    Intake,
    /// A job with two tags.
    Tagged,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::FireAndForget,
        Scenario::Delayed,
        Scenario::RetryOnce,
        Scenario::Continuation,
        Scenario::RateLimited,
        Scenario::ConcurrencyKey,
        Scenario::Intake,
        Scenario::Tagged,
    ];

    /// Its row's name in the cost table.
    pub fn row(self) -> &'static str {
        match self {
            Scenario::FireAndForget => "fire-and-forget",
            Scenario::Delayed => "delayed 1 h (the timer hands it off)",
            Scenario::RetryOnce => "one retry, then success",
            Scenario::Continuation => "a job and its continuation (the pair)",
            Scenario::RateLimited => "a rate-limited job, room in its window",
            Scenario::ConcurrencyKey => {
                "a job under a concurrency key, a slot free (take and give back)"
            }
            Scenario::Intake => "an intake message (the producer's send included)",
            Scenario::Tagged => "a job with two tags",
        }
    }
}

/// What one job (or pair) of a scenario cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub write_units: f64,
    pub read_units: f64,
    pub dynamodb_requests: f64,
    /// Sends, and the mapping's receives and deletes.
    pub sqs_requests: f64,
}

const KIND: &str = "cost.run";

pub fn measure(scenario: Scenario) -> Cost {
    crate::stack::block_on(run_scenario(scenario))
}

async fn run_scenario(scenario: Scenario) -> Cost {
    let stack = Stack::new("cost", 7, Faults::none()).await;
    let (clock, world, sdk, config, run_no) = (
        stack.clock,
        stack.world.clone(),
        stack.sdk.clone(),
        stack.config.clone(),
        stack.run_no,
    );
    let (client, sqs) = stack.client("client");
    let settings = &stack.settings;
    let stop = Arc::new(AtomicBool::new(false));
    let mapping = Mapping {
        queue: QUEUE.into(),
        queue_url: config.queue_urls[QUEUE].clone(),
        batch_size: 10,
        window: Duration::ZERO,
        max_concurrency: 5,
        timeout: Duration::from_secs(900),
        visibility: settings.visibility_timeout,
        crash_chance: 0.0,
        start_concurrency: 5,
    };
    let invoke: lambda::Invoke = {
        let (sdk, config) = (sdk.clone(), config.clone());
        lambda::warm(move |_env| {
            let (client, _) = sim_client(
                &sdk,
                config.clone(),
                Arc::new(clock),
                &format!("cost-{run_no}-worker"),
            );
            let registry = Registry::new().raw(KIND, |args, ctx| async move {
                if u64::from(ctx.attempt()) <= args["fail_first"].as_u64().unwrap_or(0) {
                    return Err(JobFailure::msg("planned failure"));
                }
                Ok(())
            });
            hangar::Worker::new(&client, registry).with_name("cost")
        })
    };
    // The mapping polls before the bill starts; its receives of an empty
    // queue are the queue's cost, not a job's.
    let counters = Arc::new(Counters::default());
    let esm = tokio::spawn(lambda::run(
        world.clone(),
        clock,
        mapping,
        invoke,
        stop.clone(),
        counters.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (billing0, sqs0) = bill(&world);
    let ids = create(scenario, &client, &sqs, &config.queue_urls[QUEUE]).await;
    if scenario == Scenario::Delayed {
        // One tick when the job comes within SQS's reach: the hand-off.
        tokio::time::sleep(Duration::from_secs(50 * 60)).await;
        hangar::Timer::new(&client)
            .tick(Duration::from_secs(50))
            .await
            .expect("a tick");
    }
    for _ in 0..3_600 {
        if ids.iter().all(|id| succeeded(&world, &config.table, id)) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        ids.iter().all(|id| succeeded(&world, &config.table, id)),
        "{scenario:?}: not every job succeeded"
    );
    let (billing1, sqs1) = bill(&world);
    stop.store(true, Ordering::SeqCst);
    let _ = esm.await;
    let units = |b: &Billing, f: fn(&crate::dynamodb::Usage) -> f64| -> f64 {
        b.tables.values().chain(b.indexes.values()).map(f).sum()
    };
    let requests = |b: &Billing| b.requests.values().sum::<u64>() as f64;
    let n = N as f64;
    // The mapping's receive and delete: one each per batch of 10
    // deliveries, as the cost table counts them (the model's receives of
    // an empty queue while it waits are the queue's, not the job's).
    let deliveries = counters.messages.load(Ordering::SeqCst) as f64;
    Cost {
        write_units: (units(&billing1, |u| u.write_units) - units(&billing0, |u| u.write_units))
            / n,
        read_units: (units(&billing1, |u| u.read_units) - units(&billing0, |u| u.read_units)) / n,
        dynamodb_requests: (requests(&billing1) - requests(&billing0)) / n,
        sqs_requests: ((sqs1 - sqs0) as f64 + deliveries * 0.2) / n,
    }
}

/// The DynamoDB bill so far, and the SQS sends.
fn bill(world: &SharedWorld) -> (Billing, u64) {
    let w = world.lock().expect("one thread");
    let sends = w
        .sqs
        .requests()
        .iter()
        .filter(|(op, _)| op.starts_with("SendMessage"))
        .map(|(_, n)| n)
        .sum();
    (w.dynamodb.billing().clone(), sends)
}

fn succeeded(world: &SharedWorld, table: &str, id: &JobId) -> bool {
    let w = world.lock().expect("one thread");
    matches!(
        w.dynamodb.peek(table, &format!("job#{id}")).and_then(|i| i.get("state")),
        Some(Av::S(s)) if State::from_str(s) == Ok(State::Succeeded)
    )
}

/// Creates the scenario's jobs; the ids of every job that must succeed.
async fn create(
    scenario: Scenario,
    client: &Client,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<JobId> {
    let job = |n: usize| NewJob::new(KIND, json!({ "n": n }));
    let mut ids = Vec::new();
    for n in 0..N {
        let id = match scenario {
            Scenario::FireAndForget => client.enqueue(job(n)).await,
            Scenario::Delayed => client.schedule(job(n), Duration::from_secs(3_600)).await,
            Scenario::RetryOnce => {
                let flaky =
                    NewJob::new(KIND, json!({ "n": n, "fail_first": 1 })).retry(RetryPolicy {
                        attempts: 1,
                        delays_secs: vec![1],
                        ..RetryPolicy::default()
                    });
                client.enqueue(flaky).await
            }
            Scenario::Continuation => {
                let parent = client.enqueue(job(n)).await.expect("a parent");
                ids.push(parent.clone());
                client
                    .continue_with(&parent, job(100 + n), ContinueOn::Succeeded)
                    .await
            }
            Scenario::RateLimited => {
                client
                    .enqueue(job(n).rate("cost-r", 100, Duration::from_secs(1)))
                    .await
            }
            Scenario::ConcurrencyKey => client.enqueue(job(n).concurrency("cost-c", 10)).await,
            Scenario::Tagged => {
                let tagged = job(n).tag(format!("customer:{n}")).tag("import:2026-12");
                client.enqueue(tagged).await
            }
            Scenario::Intake => {
                let key = format!("cost-{n}");
                sqs.send_message()
                    .queue_url(url)
                    .message_body(
                        json!({"hangar_intake": 1, "kind": KIND, "args": {"n": n},
                            "idempotency_key": key})
                        .to_string(),
                    )
                    .send()
                    .await
                    .expect("a send");
                JobId::parse(format!("idem-{key}"))
            }
        };
        ids.push(id.expect("a job"));
    }
    ids
}
