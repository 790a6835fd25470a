//! The cost meter's scenarios: what one job costs in DynamoDB write and
//! read units and SQS requests, by DynamoDB's billing rules applied to the
//! table's stream (see `hangar_integration_tests::meter`). Each scenario
//! fails if its units grow past its budget; the figures are the table in
//! docs/architecture.md, printed by
//! `bash tests/run.sh -p hangar-integration-tests --test integration cost -- --nocapture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hangar::message::WakeUp;
use hangar::{ContinueOn, ManualClock, Poller, RecurringOptions, Timer};
use hangar_integration_tests::meter::{PRICE_RRU, PRICE_SQS, PRICE_WRU};
use hangar_integration_tests::{Bill, EnvOptions, TestEnv};

use crate::support::*;

/// Jobs per scenario (the bill is divided among them).
const N: usize = 4;

async fn metered_env(clock: Option<ManualClock>) -> TestEnv {
    TestEnv::with(EnvOptions {
        stream: true,
        clock: clock.map(|c| std::sync::Arc::new(c) as hangar::clock::SharedClock),
        ..Default::default()
    })
    .await
}

/// Polls until `done` holds, making no request of its own besides the
/// poller's receives and deletes.
async fn poll_until(poller: &Poller, what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not done in 30 s"
        );
        poller.poll_once().await.expect("poll");
    }
}

/// Polls until a receive comes back empty.
async fn drain(poller: &Poller) {
    while poller.poll_once().await.expect("poll") > 0 {}
}

/// Prints the scenario's row and checks it against its budget of write
/// units per job. Returns the per-job bill.
fn report(scenario: &str, bill: &Bill, jobs: usize, budget_wru: f64) -> Bill {
    assert_eq!(
        bill.unmatched, 0,
        "{scenario}: stream records no write explains: {bill:?}"
    );
    let per = bill.per(jobs);
    // SQS requests Hangar makes, plus the event source mapping's receive and
    // delete, one each per batch of 10 deliveries.
    let sends = bill.sqs_requests(&["SendMessage", "SendMessageBatch"]) as f64 / jobs as f64;
    let deliveries = bill.delivered as f64 / jobs as f64;
    let sqs = sends + deliveries * 0.2;
    let dollars = per.wru() * PRICE_WRU + per.rru * PRICE_RRU + sqs * PRICE_SQS;
    println!(
        "figure: cost | {scenario} | {:.1} WRU ({:.1} table, {:.1} index, {:.1} refused) | {:.2} RRU | {:.2} SQS ({sends:.2} sends, {deliveries:.2} deliveries) | ${dollars:.2} per million | DynamoDB calls {:?}",
        per.wru(),
        per.table_wru,
        per.index_wru,
        per.failed_wru,
        per.rru,
        sqs,
        bill.dynamodb
    );
    assert!(
        per.wru() <= budget_wru,
        "{scenario}: {:.2} write units per job, budget {budget_wru} (index {:.2}, table {:.2}, refused {:.2})",
        per.wru(),
        per.index_wru,
        per.table_wru,
        per.failed_wru
    );
    per
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Enqueue, claim, finish: three writes, and the index entry written on
/// enqueue and moved once on finish (the claim writes none): 6 WRU.
#[tokio::test]
async fn cost_fire_and_forget() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for n in 0..N {
        env.client.enqueue(&Ok1 { n: n as u32 }).await.unwrap();
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    let per = report("fire-and-forget", &bill, N, 6.0);
    assert_eq!((per.table_wru, per.index_wru), (3.0, 3.0), "{per:?}");
    assert_eq!(per.rru, 0.0, "no reads on the happy path");
}

/// A job whose handler returns a 2 KB result: the result rides on the
/// finishing write (no extra request), which is billed by the item's size
/// after it, 3 units instead of 1; the index entries do not carry it.
#[tokio::test]
async fn cost_result() {
    let env = metered_env(None).await;
    let done = Arc::new(AtomicU32::new(0));
    let poller = env.poller({
        let done = done.clone();
        hangar::Registry::new().raw_with_result("report", move |_, _| {
            let done = done.clone();
            async move {
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, hangar::JobFailure>("r".repeat(2000))
            }
        })
    });
    let start = env.meter_start().await;
    for n in 0..N {
        env.client
            .enqueue(hangar::NewJob::new("report", serde_json::json!({ "n": n })))
            .await
            .unwrap();
    }
    poll_until(&poller, "runs", || done.load(Ordering::SeqCst) == N as u32).await;
    let bill = env.bill(&start).await;
    let per = report("a job returning a 2 KB result", &bill, N, 8.0);
    assert_eq!((per.table_wru, per.index_wru), (5.0, 3.0), "{per:?}");
}

/// A unique job: its key item written before the job (1 unit, no index
/// entry), then the job's life as fire-and-forget.
#[tokio::test]
async fn cost_unique() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for n in 0..N {
        let job = hangar::NewJob::of(&Ok1 { n: n as u32 })
            .unwrap()
            .unique(format!("u-{n}"), hangar::UniqueUntil::Started);
        env.client.enqueue(job).await.unwrap();
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    let per = report("a unique job (its key, then its life)", &bill, N, 7.0);
    assert_eq!((per.table_wru, per.index_wru), (4.0, 3.0), "{per:?}");
}

/// A job with two tags: each tag's pointer item and its index entry
/// written before the job (in one `BatchWriteItem`), then the job's life
/// as fire-and-forget: 2 units a tag.
#[tokio::test]
async fn cost_tagged() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for n in 0..N {
        let job = hangar::NewJob::of(&Ok1 { n: n as u32 })
            .unwrap()
            .tag(format!("customer:{n}"))
            .tag("import:2026-12");
        env.client.enqueue(job).await.unwrap();
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    let per = report("a job with two tags", &bill, N, 10.0);
    assert_eq!((per.table_wru, per.index_wru), (5.0, 5.0), "{per:?}");
}

/// A job that logs 100 lines, shipped to the worker's log group as Lambda
/// ships them: fire-and-forget's 6 units, no write per line; reading
/// them back is `FilterLogEvents` requests and no DynamoDB unit.
#[tokio::test]
async fn cost_log_lines() {
    let env = metered_env(None).await;
    let (shipper, _guard) = env.ship_logs().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs).raw("chatty", |_, _| async {
        for i in 0..100 {
            tracing::info!(i, "a line");
        }
        Ok::<_, hangar::JobFailure>(())
    }));
    let start = env.meter_start().await;
    let mut ids = Vec::new();
    for n in 0..N {
        let job = hangar::NewJob::new("chatty", serde_json::json!({ "n": n }));
        ids.push(env.client.enqueue(job).await.unwrap());
    }
    for id in &ids {
        env.drive_to(
            &poller,
            id,
            hangar::State::Succeeded,
            Duration::from_secs(15),
        )
        .await;
    }
    shipper.flush().await;
    let job = env.job(&ids[0]).await;
    env.calls.reset();
    let page = env.run_logs().read(&job, Utc::now(), None).await.unwrap();
    assert_eq!(page.lines.len(), 100);
    // (A line logged since would be shipped meanwhile: not a read's.)
    let calls: Vec<String> = (env.calls.counts().into_keys())
        .filter(|op| op != "PutLogEvents")
        .collect();
    assert_eq!(calls, ["FilterLogEvents"]);
    let bill = env.bill(&start).await;
    let per = report(
        "a job logging 100 lines (read back: FilterLogEvents only)",
        &bill,
        N,
        6.0,
    );
    assert_eq!((per.table_wru, per.index_wru), (3.0, 3.0), "{per:?}");
}

/// A creation refused by a unique key whose job waits: the key's
/// conditional write is refused (1 unit) and the holder is read; no job is
/// written and nothing is sent.
#[tokio::test]
async fn cost_unique_duplicate() {
    let env = metered_env(None).await;
    let job = |n: u32| {
        hangar::NewJob::of(&Ok1 { n })
            .unwrap()
            .unique("u-held", hangar::UniqueUntil::Started)
    };
    let holder = env
        .client
        .schedule(job(0), Duration::from_secs(3600))
        .await
        .unwrap();
    let start = env.meter_start().await;
    for n in 1..=N {
        assert_eq!(env.client.enqueue(job(n as u32)).await.unwrap(), holder);
    }
    let bill = env.bill(&start).await;
    let per = report(
        "a creation refused by a unique key (per creation)",
        &bill,
        N,
        1.0,
    );
    assert_eq!((per.failed_wru, per.rru), (1.0, 1.0), "{per:?}");
    assert_eq!(bill.sqs_requests(&["SendMessage", "SendMessageBatch"]), 0);
}

/// A creation that joins a debounced job waiting for its time: the key's
/// write refused, the job read, then rewritten with the new arguments and
/// time (its index entry moves), and a wake-up sent for the new time.
#[tokio::test]
async fn cost_debounce_join() {
    let env = metered_env(None).await;
    let job = |n: u32| {
        hangar::NewJob::of(&Ok1 { n }).unwrap().debounce(
            "d-1",
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
    };
    let first = env.client.enqueue(job(0)).await.unwrap();
    let start = env.meter_start().await;
    for n in 1..=N {
        assert_eq!(env.client.enqueue(job(n as u32)).await.unwrap(), first);
    }
    let bill = env.bill(&start).await;
    report(
        "a creation joining a debounced job (per creation)",
        &bill,
        N,
        4.5,
    );
}

/// Scheduled an hour ahead: the timer hands it off (one read of the item
/// it found, one write that moves its index entry), then it runs.
#[tokio::test]
async fn cost_delayed_one_hour() {
    let t0 = utc("2026-06-01T08:00:00Z");
    let clock = ManualClock::new(t0);
    let env = metered_env(Some(clock.clone())).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let timer = Timer::new(&env.client);
    let start = env.meter_start().await;
    for n in 0..N {
        env.client
            .schedule(&Ok1 { n: n as u32 }, Duration::from_secs(3600))
            .await
            .unwrap();
    }
    clock.set(t0 + chrono::Duration::seconds(3600 - 2));
    let r = timer.tick(Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.handed_off.len(), N);
    clock.set(t0 + chrono::Duration::seconds(3600));
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    report("delayed 1 h", &bill, N, 9.0);
}

/// Fails once, retried after a second (an SQS delay), then succeeds.
#[tokio::test]
async fn cost_one_retry_then_success() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for _ in 0..N {
        env.client.enqueue(&Flaky { fail_times: 1 }).await.unwrap();
    }
    poll_until(&poller, "runs", || Runs::get(&runs.flaky) == 2 * N as u32).await;
    let bill = env.bill(&start).await;
    report("one retry, then success", &bill, N, 10.0);
}

/// A parent and a continuation that runs when it succeeded (per pair).
#[tokio::test]
async fn cost_continuation() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for n in 0..N {
        let parent = env.client.enqueue(&Ok1 { n: n as u32 }).await.unwrap();
        env.client
            .continue_with(&parent, &Ok1 { n: 100 }, ContinueOn::Succeeded)
            .await
            .unwrap();
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == 2 * N as u32).await;
    let bill = env.bill(&start).await;
    report("a job and its continuation", &bill, N, 21.0);
}

/// One occurrence of a recurring job: fired by the timer in one
/// transaction, then run like a delayed job.
#[tokio::test]
async fn cost_recurring_occurrence() {
    let t0 = utc("2026-06-01T09:59:58Z");
    let clock = ManualClock::new(t0);
    let env = metered_env(Some(clock.clone())).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let timer = Timer::new(&env.client);
    let recurring = env.client.recurring();
    for n in 0..N {
        recurring
            .add_or_update(
                &format!("hourly-{n}"),
                &Ok1 { n: n as u32 },
                "0 * * * *",
                RecurringOptions::default(),
            )
            .await
            .unwrap();
    }
    let start = env.meter_start().await;
    let r = timer.tick(Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.fired.len(), N, "{r:?}");
    clock.set(utc("2026-06-01T10:00:00Z"));
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    report("a recurring occurrence", &bill, N, 11.0);
}

/// A job request from another AWS producer: the worker creates the job and
/// its wake-up, and the job runs (the producer's send included).
#[tokio::test]
async fn cost_intake_message() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    for n in 0..N {
        env.send_raw(
            "default",
            &format!(r#"{{"hangar_intake":1,"kind":"ok","args":{{"n":{n}}}}}"#),
        )
        .await;
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    report("an intake message", &bill, N, 6.0);
}

/// A fire-and-forget job whose wake-up SQS delivers twice: the second
/// delivery's claim is refused (one write unit) and acknowledged.
#[tokio::test]
async fn cost_duplicate_delivery() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    let mut ids = Vec::new();
    for n in 0..N {
        ids.push(env.client.enqueue(&Ok1 { n: n as u32 }).await.unwrap());
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    for id in &ids {
        env.send_raw(
            "default",
            &WakeUp::new(id.clone(), 1, hangar::State::Enqueued).to_body(),
        )
        .await;
    }
    drain(&poller).await;
    assert_eq!(Runs::get(&runs.ok), N as u32, "the duplicates did not run");
    let bill = env.bill(&start).await;
    let per = report("a duplicate delivery", &bill, N, 7.0);
    assert_eq!(per.failed_wru, 1.0, "one refused claim per duplicate");
}

/// A job that waits out a pause: fire-and-forget, plus its parking (the
/// item and a move to the Parked bucket) and its waking on resume (the
/// item and a move back to Active), plus the resume's own write and reads
/// shared among the jobs.
#[tokio::test]
async fn cost_parked_by_a_pause() {
    let env = metered_env(None).await;
    let runs = Runs::default();
    // The pause itself (one write to the queue's control item) is not a
    // job's cost.
    env.client.pause_queue("default").await.unwrap();
    let start = env.meter_start().await;
    for n in 0..N {
        env.client.enqueue(&Ok1 { n: n as u32 }).await.unwrap();
    }
    drain(&env.poller(registry(&runs))).await;
    assert_eq!(Runs::get(&runs.ok), 0, "nothing runs while paused");
    let (_, woken) = env.client.resume_queue("default").await.unwrap();
    assert_eq!(woken, N);
    // A new worker: the first read the pause and would trust it for 5 s.
    let poller = env.poller(registry(&runs));
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == N as u32).await;
    let bill = env.bill(&start).await;
    let per = report("a job parked by a pause, then run", &bill, N, 12.5);
    assert!(per.table_wru >= 5.0 && per.index_wru >= 7.0, "{per:?}");
}

/// Jobs under a key (a rate limit, a concurrency key, an ordering key),
/// N metered after one unmetered job has created the key's item (its first
/// write is an upsert the meter cannot match). `one_by_one` runs each job
/// before the next is created. Returns the per-job bill.
async fn keyed(
    scenario: &str,
    budget_wru: f64,
    one_by_one: bool,
    job: impl Fn(u32) -> hangar::NewJob,
) -> Bill {
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    env.client.enqueue(job(99)).await.unwrap();
    poll_until(&poller, "first", || Runs::get(&runs.ok) == 1).await;
    let start = env.meter_start().await;
    for n in 0..N as u32 {
        env.client.enqueue(job(n)).await.unwrap();
        if one_by_one {
            poll_until(&poller, "run", || Runs::get(&runs.ok) == 2 + n).await;
        }
    }
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == 1 + N as u32).await;
    let bill = env.bill(&start).await;
    report(scenario, &bill, N, budget_wru)
}

fn ok1(n: u32) -> hangar::NewJob {
    hangar::NewJob::of(&Ok1 { n }).unwrap()
}

/// A job under a rate limit with room: fire-and-forget plus its
/// reservation (one small write to the limit's item, not indexed). A job
/// that must wait for a later window adds one delayed `SendMessage` per
/// wait of up to 15 minutes.
#[tokio::test]
async fn cost_rate_limited() {
    let per = keyed("a rate-limited job (room in its window)", 7.0, false, |n| {
        ok1(n).rate("cost", 1000, Duration::from_secs(60))
    })
    .await;
    assert_eq!((per.table_wru, per.index_wru), (4.0, 3.0), "{per:?}");
}

/// A job under a concurrency key with a free slot: fire-and-forget plus
/// taking the slot and giving it back (two small writes to the key's item,
/// not indexed).
#[tokio::test]
async fn cost_concurrency_key() {
    let per = keyed(
        "a job under a concurrency key (a slot free)",
        8.0,
        false,
        |n| ok1(n).concurrency("cost", 100),
    )
    .await;
    assert_eq!((per.table_wru, per.index_wru), (5.0, 3.0), "{per:?}");
}

/// An ordered job whose turn it is: fire-and-forget, plus its number at
/// creation, taking the key's slot, and giving it back with the next
/// number (three small writes to the key's item, not indexed).
#[tokio::test]
async fn cost_ordered() {
    let per = keyed("an ordered job, in its turn", 9.0, true, |n| {
        ok1(n).ordered("cost")
    })
    .await;
    assert_eq!((per.table_wru, per.index_wru), (6.0, 3.0), "{per:?}");
}

/// A job of a batch of 40: created with batch writes, and its finishing
/// write a transaction with the batch's counters (each of the two items
/// counted twice, as DynamoDB bills transactions). The batch's own writes
/// (created, heartbeat, started, completed, released) spread over its jobs.
#[tokio::test]
async fn cost_batch_job() {
    const JOBS: u32 = 40;
    let env = metered_env(None).await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let start = env.meter_start().await;
    let batch = (0..JOBS).fold(hangar::Batch::new(), |b, n| b.enqueue(&Ok1 { n }).unwrap());
    let id = env.client.start_batch(batch).await.unwrap();
    poll_until(&poller, "runs", || Runs::get(&runs.ok) == JOBS).await;
    let bill = env.bill(&start).await;
    let per = report("a job of a batch of 40", &bill, JOBS as usize, 9.5);
    assert!(per.table_wru >= 6.0, "the finishing transaction: {per:?}");
    assert!(
        per.rru < 0.1,
        "one read of the batch, not one per job: {per:?}"
    );
    let b = env.client.batch(&id).await.unwrap().unwrap();
    assert!(b.released && b.succeeded == u64::from(JOBS));
}
