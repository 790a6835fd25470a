//! The timer: delayed jobs at any horizon, backlogs, repair, recurring jobs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hangar::{ManualClock, Misfire, OffsetClock, RecurringOptions, Registry, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv, history, states};

use crate::support::{Ok1, Runs, SHORT, registry};

const BUDGET: Duration = Duration::from_secs(50);

/// Schedules an `Ok1 { n }` job `secs` from now.
async fn schedule_in(env: &TestEnv, n: u32, secs: u64) -> hangar::JobId {
    env.client
        .schedule(&Ok1 { n }, Duration::from_secs(secs))
        .await
        .unwrap()
}

/// One tick with the default budget.
pub(crate) async fn tick(timer: &Timer) -> hangar::TickReport {
    timer.tick(BUDGET).await.unwrap()
}

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) async fn manual_env(at: DateTime<Utc>) -> (TestEnv, ManualClock) {
    let clock = ManualClock::new(at);
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    (env, clock)
}

/// A job two hours out is not sent early; it is handed off on the tick that
/// brings it within the lookahead, with the remaining seconds as delay. An
/// empty tick costs one query per shard of each watched bucket (Scheduled,
/// Active, Recurring, Limits), one of the watched batches and one read of
/// the queue controls, nothing else.
#[tokio::test]
async fn far_job_is_handed_off_on_the_right_tick() {
    let t0 = utc("2026-06-01T08:00:00Z");
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    let id = schedule_in(&env, 1, 7200).await;

    env.calls.reset();
    let r = tick(&timer).await;
    assert!(r.handed_off.is_empty() && r.complete);
    let calls = env.calls.counts();
    // Three watched buckets, the concurrency keys with waiting jobs (8
    // shards each) and the watched batches (one partition).
    assert_eq!(calls.get("Query"), Some(&33), "{calls:?}");
    // And one read of the queue controls (is a resumed queue draining?).
    assert_eq!(calls.get("BatchGetItem"), Some(&1), "{calls:?}");
    assert_eq!(calls.len(), 2, "an empty tick only reads: {calls:?}");
    println!("figure: calls per empty tick: {calls:?}");

    // 15 minutes before: still nothing.
    clock.set(t0 + chrono::Duration::minutes(105));
    assert!(tick(&timer).await.handed_off.is_empty());
    assert_eq!(env.queue_depth("default").await, (0, 0, 0));

    // 14 minutes before: handed off with an 840 s delay.
    clock.set(t0 + chrono::Duration::minutes(106));
    let r = tick(&timer).await;
    assert_eq!(r.handed_off, vec![(id.clone(), Duration::from_secs(840))]);
    assert_eq!(env.queue_depth("default").await.2, 1, "one delayed message");
    let job = env.job(&id).await;
    assert!(job.handed_off);
    assert_eq!(job.state, State::Scheduled);

    // The next tick does not send it again.
    clock.set(t0 + chrono::Duration::minutes(107));
    let r = tick(&timer).await;
    assert!(r.handed_off.is_empty() && r.resent.is_empty(), "{r:?}");
}

/// Rescheduling or deleting a handed-off job wins: the message already in
/// SQS is dropped as stale and the job does not run at its old time.
#[tokio::test]
async fn handed_off_job_rescheduled_or_deleted_does_not_run() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let moved = schedule_in(&env, 1, 3600).await;
    let deleted = schedule_in(&env, 2, 3600).await;
    let run_at = env.job(&moved).await.run_at.unwrap();

    // Jump to 2 s before they are due: the tick hands both off with ~2 s delays.
    clock.jump_to(run_at - chrono::Duration::seconds(2));
    let r = tick(&timer).await;
    assert_eq!(r.handed_off.len(), 2, "{r:?}");
    env.client
        .reschedule(&moved, Duration::from_secs(7200))
        .await
        .unwrap();
    env.client.delete(&deleted).await.unwrap();

    // Both messages arrive and are dropped.
    let start = std::time::Instant::now();
    let mut seen = 0;
    while seen < 2 && start.elapsed() < Duration::from_secs(10) {
        seen += poller.poll_once().await.unwrap();
    }
    assert_eq!(seen, 2);
    assert_eq!(Runs::get(&runs.ok), 0);
    assert_eq!(env.job(&moved).await.state, State::Scheduled);
    assert!(
        !env.job(&moved).await.handed_off,
        "two hours out again: back with the timer"
    );
    assert_eq!(env.job(&deleted).await.state, State::Deleted);
}

/// Start-time error of a job scheduled two hours out, with the injected
/// clock: due → handler start, through the timer's hand-off and SQS.
#[tokio::test]
async fn two_hour_job_starts_on_time() {
    let clock = OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let timer = Timer::new(&env.client);
    let started = Arc::new(std::sync::Mutex::new(None));
    let (s, c) = (started.clone(), clock.clone());
    let poller = hangar::Poller::new(
        env.worker(Registry::new().raw("ok", move |_, _| {
            *s.lock().unwrap() = Some(hangar::Clock::now(&c));
            async { Ok(()) }
        })),
        "default",
    );
    let id = schedule_in(&env, 1, 7200).await;
    let due = env.job(&id).await.run_at.unwrap();
    // A tick every "minute" of the jumped clock: the first one inside the
    // lookahead hands it off with 3 s left.
    clock.jump_to(due - chrono::Duration::seconds(3));
    let r = tick(&timer).await;
    assert_eq!(r.handed_off.len(), 1);
    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    let start = started.lock().unwrap().expect("handler ran");
    let error_ms = (start - due).num_milliseconds();
    println!("figure: start-time error, 2 h delay (injected clock): {error_ms} ms");
    assert!(
        error_ms >= -1000,
        "started {error_ms} ms early; {}",
        history(&job)
    );
    assert!(error_ms < 5000, "started {error_ms} ms late");
}

/// Hundreds due at once (after an outage) drain across ticks with a small
/// budget, each job handed off exactly once.
#[tokio::test]
async fn backlog_drains_across_ticks_without_loss_or_duplicates() {
    const N: usize = 600;
    let t0 = utc("2026-06-01T08:00:00Z");
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for n in 0..N {
        let client = env.client.clone();
        set.spawn(async move {
            client
                .schedule(&Ok1 { n: n as u32 }, Duration::from_secs(3600))
                .await
                .unwrap()
        });
        if set.len() >= 16 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
    println!("scheduled {N} in {:?}", started.elapsed());

    clock.set(t0 + chrono::Duration::hours(2));
    let mut handed = HashMap::new();
    let mut ticks = 0;
    loop {
        let tick_started = std::time::Instant::now();
        let r = timer.tick(Duration::from_millis(1000)).await.unwrap();
        ticks += 1;
        println!(
            "tick {ticks}: {} handed off, {} queries, {:?}",
            r.handed_off.len(),
            r.queries,
            tick_started.elapsed()
        );
        assert_eq!(r.errors, 0);
        for (id, delay) in r.handed_off {
            assert_eq!(delay, Duration::ZERO, "overdue jobs go at once");
            *handed.entry(id).or_insert(0) += 1;
        }
        if r.complete {
            break;
        }
        assert!(ticks < 100, "backlog does not drain");
    }
    println!(
        "figure: {N} due jobs handed off in {ticks} ticks of 1 s budget ({:?} since start)",
        started.elapsed()
    );
    assert!(ticks > 1, "the budget should have split the work");
    assert_eq!(handed.len(), N);
    assert!(handed.values().all(|c| *c == 1));

    // Exactly one message per job in SQS: every hand-off above sent one,
    // and nothing else did.
    let (visible, in_flight, delayed) = env.queue_depth("default").await;
    assert_eq!((visible, in_flight, delayed), (N as u64, 0, 0));
}

/// Repair: an Enqueued job whose message was lost is sent again after the
/// grace period and runs.
#[tokio::test]
async fn repair_resends_a_lost_enqueue() {
    let t0 = Utc::now();
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    // Lose the message.
    env.lose_messages("default").await;
    clock.advance(Duration::from_secs(9 * 60));
    assert!(
        tick(&timer).await.resent.is_empty(),
        "not before the grace period"
    );
    clock.advance(Duration::from_secs(61));
    let r = tick(&timer).await;
    assert_eq!(r.resent, vec![id.clone()]);

    // Lost again (or stuck behind a backlog): the next re-send waits twice
    // as long, 20 minutes, not another 10.
    let url = env.config.queue_urls["default"].clone();
    let lost = env
        .sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(lost.len(), 1, "the re-sent wake-up");
    env.sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle(lost[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(11 * 60));
    assert!(tick(&timer).await.resent.is_empty(), "backed off");
    clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(tick(&timer).await.resent, vec![id.clone()]);

    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(Runs::get(&runs.ok), 1);
}

/// Repair: a Processing job whose worker crashed and whose message is gone
/// is sent for reclaim once its lease and the grace period have passed.
#[tokio::test]
async fn repair_reclaims_an_expired_lease() {
    let t0 = Utc::now();
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let worker = env.worker(Registry::new().raw("ok", move |_, _| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }));
    let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
    // The worker takes the message from SQS and crashes mid-run.
    let poller = hangar::Poller::new(worker.clone(), "default");
    let p = poller.clone();
    let crashed = tokio::spawn(async move { p.poll_once().await });
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.abort();
    // Its message is gone too (deleted by a last gasp, or dead-lettered).
    env.lose_messages("default").await;
    let lease = env.job(&id).await.lease_until.unwrap();
    clock.set(lease + chrono::Duration::minutes(9));
    assert!(tick(&timer).await.lease_expired.is_empty());
    clock.set(lease + chrono::Duration::minutes(10) + chrono::Duration::seconds(1));
    let r = tick(&timer).await;
    assert_eq!(r.lease_expired, vec![id.clone()]);
    let job = env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    assert_eq!(job.attempt, 2);
    assert_eq!(
        states(&job),
        [
            State::Enqueued,
            State::Processing,
            State::Processing,
            State::Succeeded
        ]
    );
}

/// A recurring job fires each occurrence once, ahead of time as a handed-off
/// Scheduled job with a deterministic id; overlapping ticks cannot fire it
/// twice; the record keeps last run, last job and next run.
#[tokio::test]
async fn recurring_job_fires_once_per_occurrence() {
    let (env, clock) = manual_env(utc("2026-06-01T09:30:00Z")).await;
    let timer = Timer::new(&env.client);
    let rec = env
        .client
        .recurring()
        .add_or_update(
            "daily-report",
            &Ok1 { n: 7 },
            "0 10 * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(rec.next_run, Some(utc("2026-06-01T10:00:00Z")));

    // Fired two minutes ahead (RECURRING_LOOKAHEAD), handed off to start on
    // the second.
    clock.set(utc("2026-06-01T09:57:00Z"));
    assert!(tick(&timer).await.fired.is_empty());

    // Two overlapping ticks read the recurring job at the same version. The
    // emulator runs concurrent transactions without isolation (DynamoDB
    // serializes them), so the first transaction to arrive is held back by
    // three injected conflicts (about 70 ms of retries): the other commits,
    // and the held one, made on a stale read, must not fire again.
    clock.set(utc("2026-06-01T09:58:00Z"));
    env.faults.conflict("TransactWriteItems", "daily-report", 3);
    let (a, b) = tokio::join!(timer.tick(BUDGET), timer.tick(BUDGET));
    let fired: Vec<_> = a
        .unwrap()
        .fired
        .into_iter()
        .chain(b.unwrap().fired)
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].as_str(), "daily-report:20260601T100000Z");
    let job = env.job(&fired[0]).await;
    assert_eq!(job.state, State::Scheduled);
    assert!(job.handed_off);
    assert_eq!(job.run_at, Some(utc("2026-06-01T10:00:00Z")));
    assert_eq!(job.args["n"], 7);

    let rec = env
        .client
        .recurring()
        .get("daily-report")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.last_run, Some(utc("2026-06-01T10:00:00Z")));
    assert_eq!(rec.last_job_id.as_ref(), Some(&fired[0]));
    assert_eq!(rec.next_run, Some(utc("2026-06-02T10:00:00Z")));

    clock.set(utc("2026-06-01T10:30:00Z"));
    assert!(tick(&timer).await.fired.is_empty());
}

/// Misfire policies after a 3-hour gap in ticks: Relaxed runs once, Strict
/// once per missed occurrence, Ignorable skips them.
#[tokio::test]
async fn misfire_policies_after_a_three_hour_gap() {
    let (env, clock) = manual_env(utc("2026-06-01T10:00:30Z")).await;
    let timer = Timer::new(&env.client);
    for (id, misfire) in [
        ("relaxed", Misfire::Relaxed),
        ("strict", Misfire::Strict),
        ("ignorable", Misfire::Ignorable),
    ] {
        env.client
            .recurring()
            .add_or_update(
                id,
                &Ok1 { n: 1 },
                "0 * * * *",
                RecurringOptions::default().misfire(misfire),
            )
            .await
            .unwrap();
    }
    // Next runs are 11:00; the timer is down until 14:05 (11, 12, 13 and 14
    // o'clock missed).
    clock.set(utc("2026-06-01T14:05:00Z"));
    let r = tick(&timer).await;
    let count = |prefix: &str| {
        r.fired
            .iter()
            .filter(|id| id.as_str().starts_with(prefix))
            .count()
    };
    assert_eq!(count("relaxed:"), 1, "{:?}", r.fired);
    assert_eq!(count("strict:"), 4, "{:?}", r.fired);
    assert_eq!(count("ignorable:"), 0, "{:?}", r.fired);
    assert_eq!(r.skipped, 3 + 4);

    let relaxed = env
        .job(
            &r.fired
                .iter()
                .find(|i| i.as_str().starts_with("relaxed:"))
                .unwrap()
                .clone(),
        )
        .await;
    assert_eq!(
        relaxed.id.as_str(),
        "relaxed:20260601T140000Z",
        "the most recent missed occurrence"
    );
    assert_eq!(relaxed.state, State::Enqueued, "missed: runs now");
    assert!(
        relaxed.history[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("missed; misfire policy Relaxed")
    );
    for id in ["relaxed", "strict", "ignorable"] {
        let rec = env.client.recurring().get(id).await.unwrap().unwrap();
        assert_eq!(rec.next_run, Some(utc("2026-06-01T15:00:00Z")), "{id}");
    }
}

/// Firing across DST changes: the occurrence that does not exist runs once
/// after the gap; the repeated hour runs once.
#[tokio::test]
async fn recurring_across_dst_in_berlin_and_new_york() {
    // Some 340 ticks; DST has nothing to do with sharding, so one shard.
    let clock = ManualClock::new(utc("2026-03-28T12:00:00Z"));
    let env = TestEnv::with(EnvOptions {
        shards: Some(1),
        ..EnvOptions::clock(clock.clone())
    })
    .await;
    let timer = Timer::new(&env.client);
    let recurring = env.client.recurring();
    recurring
        .add_or_update(
            "berlin",
            &Ok1 { n: 1 },
            "30 2 * * *",
            RecurringOptions::default().tz("Europe/Berlin"),
        )
        .await
        .unwrap();
    recurring
        .add_or_update(
            "nyc",
            &Ok1 { n: 2 },
            "30 1 * * *",
            RecurringOptions::default().tz("America/New_York"),
        )
        .await
        .unwrap();

    // Tick every 30 minutes through the spring change in both zones and the
    // autumn changes (October 25 in Berlin, November 1 in New York),
    // collecting what fires.
    let mut fired = Vec::new();
    for (from, to) in [
        ("2026-03-28T12:00:00Z", "2026-03-31T12:00:00Z"),
        ("2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
        ("2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
    ] {
        let (mut t, end) = (utc(from), utc(to));
        if t > clock_now(&env) {
            // Re-enable from here so the gap between windows is not a misfire.
            clock.set(t);
            for id in ["berlin", "nyc"] {
                recurring.disable(id).await.unwrap();
                recurring.enable(id).await.unwrap();
            }
        }
        while t < end {
            clock.set(t);
            fired.extend(tick(&timer).await.fired);
            t += chrono::Duration::minutes(30);
        }
    }
    let ids: Vec<&str> = fired.iter().map(|i| i.as_str()).collect();
    let berlin: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| i.starts_with("berlin:"))
        .collect();
    assert_eq!(
        berlin[..3],
        [
            "berlin:20260329T010000Z", // 02:30 does not exist: 03:00 CEST
            "berlin:20260330T003000Z",
            "berlin:20260331T003000Z",
        ]
    );
    assert!(berlin.contains(&"berlin:20261025T003000Z"), "{berlin:?}");
    assert!(
        !berlin.contains(&"berlin:20261025T013000Z"),
        "the repeated 02:30 runs once"
    );
    let nyc: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| i.starts_with("nyc:"))
        .collect();
    assert!(nyc.contains(&"nyc:20261101T053000Z"), "{nyc:?}");
    assert!(
        !nyc.contains(&"nyc:20261101T063000Z"),
        "the repeated 01:30 runs once"
    );
    // 1:30 exists on March 8 in New York (the gap is 02:00-03:00).
    assert_eq!(
        nyc.iter().filter(|i| i.contains("202611")).count(),
        2,
        "{nyc:?}"
    );
}

fn clock_now(env: &TestEnv) -> DateTime<Utc> {
    env.clock.now()
}

/// Trigger runs a recurring job now without changing its schedule; disable
/// stops firing; enable resumes from the next occurrence; remove deletes it.
#[tokio::test]
async fn trigger_disable_enable_remove() {
    let (env, clock) = manual_env(utc("2026-06-01T09:30:00Z")).await;
    let timer = Timer::new(&env.client);
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let recurring = env.client.recurring();
    recurring
        .add_or_update(
            "hourly",
            &Ok1 { n: 1 },
            "@hourly",
            RecurringOptions::default(),
        )
        .await
        .unwrap();

    let job = recurring.trigger("hourly").await.unwrap();
    env.drive_to(&poller, &job, State::Succeeded, SHORT).await;
    let rec = recurring.get("hourly").await.unwrap().unwrap();
    assert_eq!(rec.last_job_id.as_ref(), Some(&job));
    assert_eq!(
        rec.next_run,
        Some(utc("2026-06-01T10:00:00Z")),
        "schedule unchanged"
    );

    recurring.disable("hourly").await.unwrap();
    clock.set(utc("2026-06-01T09:59:00Z"));
    assert!(tick(&timer).await.fired.is_empty(), "disabled");
    assert!(!recurring.list().await.unwrap()[0].enabled);

    clock.set(utc("2026-06-01T12:10:00Z"));
    recurring.enable("hourly").await.unwrap();
    assert_eq!(
        recurring.get("hourly").await.unwrap().unwrap().next_run,
        Some(utc("2026-06-01T13:00:00Z"))
    );
    clock.set(utc("2026-06-01T12:58:30Z"));
    let r = tick(&timer).await;
    assert_eq!(r.fired.len(), 1);
    assert_eq!(r.skipped, 0, "occurrences while disabled are not misfires");

    assert!(recurring.remove("hourly").await.unwrap());
    assert!(!recurring.remove("hourly").await.unwrap());
    assert!(recurring.list().await.unwrap().is_empty());
    assert!(matches!(
        recurring.trigger("hourly").await,
        Err(hangar::Error::RecurringNotFound { .. })
    ));
    clock.set(utc("2026-06-01T13:59:00Z"));
    assert!(tick(&timer).await.fired.is_empty());
}

/// Bad recurring definitions are refused at add_or_update, saying why.
#[tokio::test]
async fn invalid_recurring_definitions() {
    let env = TestEnv::new().await;
    let r = env.client.recurring();
    let err = r
        .add_or_update("x", &Ok1 { n: 1 }, "every day", RecurringOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cron expression"), "{err}");
    let err = r
        .add_or_update(
            "x",
            &Ok1 { n: 1 },
            "0 * * * *",
            RecurringOptions::default().tz("Berlin"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("IANA time zone"), "{err}");
    let err = r
        .add_or_update(
            "bad id",
            &Ok1 { n: 1 },
            "0 * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("recurring job id"), "{err}");
    assert!(r.list().await.unwrap().is_empty());
}

/// Calls per tick with N due jobs: one query per shard of each watched
/// bucket (plus pages), one BatchGetItem per page that found jobs, one
/// conditional write per job, one SendMessageBatch per 10.
#[tokio::test]
async fn calls_per_tick_with_due_jobs() {
    let t0 = utc("2026-06-01T08:00:00Z");
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    for n in 0..25 {
        schedule_in(&env, n, 3600).await;
    }
    clock.set(t0 + chrono::Duration::minutes(50));
    env.calls.reset();
    let r = tick(&timer).await;
    assert_eq!(r.handed_off.len(), 25);
    let calls = env.calls.counts();
    println!("figure: calls per tick with 25 due jobs: {calls:?}");
    assert_eq!(calls.get("Query"), Some(&33));
    // At most one read of the found items per shard, and one of the
    // queue controls.
    assert!(
        calls.get("BatchGetItem").is_some_and(|n| *n <= 9),
        "{calls:?}"
    );
    assert_eq!(calls.get("UpdateItem"), Some(&25));
    assert_eq!(calls.get("SendMessageBatch"), Some(&3));
}

/// The scheduler Lambda's handler runs a tick for exactly the input the
/// template's schedule sends, and refuses any other event.
#[tokio::test]
async fn scheduler_lambda_handles_the_schedule_event() {
    let env = TestEnv::new().await;
    let timer = Timer::new(&env.client);
    schedule_in(&env, 1, 3600).await;
    let template = hangar_integration_tests::template::template();
    let input = template["Resources"]["TimerSchedule"]["Properties"]["Target"]["Input"]
        .as_str()
        .expect("the schedule names its input");
    let event = |payload: hangar::run::TickEvent| {
        let mut ctx = lambda_runtime::Context::default();
        ctx.deadline = (Utc::now() + chrono::Duration::seconds(30)).timestamp_millis() as u64;
        lambda_runtime::LambdaEvent::new(payload, ctx)
    };
    let payload = serde_json::from_str(input).expect("the schedule's input is a tick event");
    let report = hangar::run::tick_handler(&timer, event(payload))
        .await
        .unwrap();
    assert!(report.complete);
    assert_eq!(report.queries, 24);

    let other = hangar::run::TickEvent {
        source: "aws.events".into(),
    };
    let err = hangar::run::tick_handler(&timer, event(other))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a Hangar timer event"),
        "{err}"
    );
}
