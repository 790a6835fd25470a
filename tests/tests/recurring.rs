//! Changing recurring jobs while their next occurrences are already fired
//! ahead: updates, cron changes, disable and enable, remove and re-add.
//! None of them stalls the job, each applies from the next occurrence, and
//! a firing that cannot proceed says why in `last_error`.

use std::collections::BTreeMap;
use std::time::Duration;

use hangar::message::WakeUp;
use hangar::recurring::occurrence_job_id;
use hangar::{Delivery, JobId, JobRecord, Misfire, Outcome, RecurringOptions, State, Timer};
use hangar_integration_tests::TestEnv;

use crate::support::{Ok1, Runs, registry};
use crate::timer::{manual_env, tick, utc};

const EVERY_20S: &str = "*/20 * * * * *";

fn occ(t: &str) -> JobId {
    occurrence_job_id("ru", utc(t))
}

/// The occurrences at these times (HH:MM:SS on 2026-06-01), by time.
async fn occurrences(env: &TestEnv, times: &[&str]) -> BTreeMap<String, Option<JobRecord>> {
    let mut out = BTreeMap::new();
    for t in times {
        let id = occ(&format!("2026-06-01T{t}Z"));
        out.insert((*t).to_owned(), env.client.get(&id).await.unwrap());
    }
    out
}

fn state_of(jobs: &BTreeMap<String, Option<JobRecord>>, t: &str) -> Option<State> {
    jobs[t].as_ref().map(|j| j.state)
}

const AHEAD: [&str; 6] = [
    "10:00:20", "10:00:40", "10:01:00", "10:01:20", "10:01:40", "10:02:00",
];

/// A tick at 10:00:05 fires the six occurrences of the next two minutes.
async fn fired_ahead(misfire: Misfire) -> (TestEnv, hangar::ManualClock, Timer) {
    let (env, clock) = manual_env(utc("2026-06-01T10:00:05Z")).await;
    let timer = Timer::new(&env.client);
    env.client
        .recurring()
        .add_or_update(
            "ru",
            &Ok1 { n: 1 },
            EVERY_20S,
            RecurringOptions::default().misfire(misfire),
        )
        .await
        .unwrap();
    let fired = tick(&timer).await.fired;
    assert_eq!(fired.len(), 6, "{fired:?}");
    (env, clock, timer)
}

/// Updating a recurring job inside the look-ahead window, under Strict and
/// Relaxed: an occurrence a worker already started counts as fired; the
/// occurrences fired ahead take the new definition; the job moves on.
/// Registering the same definition again writes nothing.
#[tokio::test]
async fn update_inside_the_lookahead() {
    for misfire in [Misfire::Strict, Misfire::Relaxed] {
        let (env, clock, timer) = fired_ahead(misfire).await;
        let recurring = env.client.recurring();
        // A worker starts the 10:00:20 occurrence half a second early (the
        // early tolerance of a delayed message).
        clock.set(utc("2026-06-01T10:00:19.500Z"));
        let first = env.job(&occ("2026-06-01T10:00:20Z")).await;
        let runs = Runs::default();
        let outcome = env
            .worker(registry(&runs))
            .handle(
                &Delivery {
                    message_id: "m-1".into(),
                    body: WakeUp::for_job(&first).to_body(),
                    queue: "default".into(),
                    attributes: Default::default(),
                },
                None,
            )
            .await;
        assert_eq!(outcome, Outcome::Ran(State::Succeeded));

        // The same definition again (an application restart): no write.
        let before = recurring.get("ru").await.unwrap().unwrap();
        let opts = RecurringOptions::default().misfire(misfire);
        let again = recurring
            .add_or_update("ru", &Ok1 { n: 1 }, EVERY_20S, opts.clone())
            .await
            .unwrap();
        assert_eq!(again.version, before.version, "{misfire}");

        // Other arguments.
        clock.set(utc("2026-06-01T10:00:19.600Z"));
        recurring
            .add_or_update("ru", &Ok1 { n: 2 }, EVERY_20S, opts)
            .await
            .unwrap();
        let jobs = occurrences(&env, &AHEAD).await;
        assert_eq!(state_of(&jobs, "10:00:20"), Some(State::Succeeded));
        for t in &AHEAD[1..] {
            let job = jobs[*t].as_ref().unwrap();
            assert_eq!(job.state, State::Deleted, "{misfire} {t}");
            assert!(
                job.history
                    .last()
                    .unwrap()
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("updated"),
                "{:?}",
                job.history
            );
        }

        // The next tick moves past the occurrence that ran and fires the
        // others again, with the new arguments.
        let r = tick(&timer).await;
        assert_eq!(r.errors, 0);
        let fired: Vec<String> = r.fired.iter().map(ToString::to_string).collect();
        let expected: Vec<String> = AHEAD[1..]
            .iter()
            .map(|t| occ(&format!("2026-06-01T{t}Z")).to_string())
            .collect();
        assert_eq!(fired, expected, "{misfire}");
        let jobs = occurrences(&env, &AHEAD).await;
        let first = jobs["10:00:20"].as_ref().unwrap();
        assert_eq!(
            (first.state, first.args["n"].as_u64()),
            (State::Succeeded, Some(1))
        );
        assert_eq!(first.attempt, 1, "the occurrence that ran is left alone");
        for t in &AHEAD[1..] {
            let job = jobs[*t].as_ref().unwrap();
            assert_eq!(
                (job.state, job.args["n"].as_u64()),
                (State::Scheduled, Some(2)),
                "{t}"
            );
        }
        let rec = recurring.get("ru").await.unwrap().unwrap();
        assert_eq!(rec.next_run, Some(utc("2026-06-01T10:02:20Z")));
        assert_eq!(rec.last_error, None);

        // And it keeps going.
        clock.set(utc("2026-06-01T10:01:05Z"));
        assert_eq!(
            tick(&timer).await.fired.len(),
            3,
            "10:02:20, 10:02:40, 10:03:00"
        );
        let rec = recurring.get("ru").await.unwrap().unwrap();
        assert_eq!(rec.next_run, Some(utc("2026-06-01T10:03:20Z")));
    }
}

/// A new cron expression: the occurrences fired ahead under the old one
/// are deleted, and the new schedule fires from the next occurrence.
#[tokio::test]
async fn update_that_changes_the_cron() {
    let (env, clock, timer) = fired_ahead(Misfire::Relaxed).await;
    clock.set(utc("2026-06-01T10:00:10Z"));
    env.client
        .recurring()
        .add_or_update(
            "ru",
            &Ok1 { n: 1 },
            "*/30 * * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    let r = tick(&timer).await;
    assert_eq!(r.fired.len(), 4, "{r:?}");
    let jobs = occurrences(
        &env,
        &[
            "10:00:20", "10:00:30", "10:00:40", "10:01:00", "10:01:20", "10:01:30", "10:01:40",
            "10:02:00",
        ],
    )
    .await;
    for t in ["10:00:20", "10:00:40", "10:01:20", "10:01:40"] {
        assert_eq!(state_of(&jobs, t), Some(State::Deleted), "{t}");
    }
    for t in ["10:00:30", "10:01:00", "10:01:30", "10:02:00"] {
        assert_eq!(state_of(&jobs, t), Some(State::Scheduled), "{t}");
    }
}

/// Disable deletes the occurrences fired ahead and nothing fires while
/// disabled; enable fires from the next occurrence, replacing them.
#[tokio::test]
async fn disable_and_enable_while_fired_ahead() {
    let (env, clock, timer) = fired_ahead(Misfire::Relaxed).await;
    let recurring = env.client.recurring();
    clock.set(utc("2026-06-01T10:00:10Z"));
    recurring.disable("ru").await.unwrap();
    let jobs = occurrences(&env, &AHEAD).await;
    assert!(
        AHEAD
            .iter()
            .all(|t| state_of(&jobs, t) == Some(State::Deleted)),
        "{jobs:?}"
    );
    clock.set(utc("2026-06-01T10:00:50Z"));
    assert!(tick(&timer).await.fired.is_empty());

    recurring.enable("ru").await.unwrap();
    assert_eq!(tick(&timer).await.fired.len(), 6, "10:01:00 to 10:02:40");
    let jobs = occurrences(&env, &AHEAD).await;
    assert_eq!(
        state_of(&jobs, "10:00:40"),
        Some(State::Deleted),
        "passed while disabled"
    );
    for t in &AHEAD[2..] {
        assert_eq!(state_of(&jobs, t), Some(State::Scheduled), "{t}");
    }
}

/// Remove deletes the occurrences fired ahead; a re-added job with the same
/// id fires them again.
#[tokio::test]
async fn remove_and_add_again_while_fired_ahead() {
    let (env, clock, timer) = fired_ahead(Misfire::Relaxed).await;
    let recurring = env.client.recurring();
    clock.set(utc("2026-06-01T10:00:10Z"));
    assert!(recurring.remove("ru").await.unwrap());
    let jobs = occurrences(&env, &AHEAD).await;
    assert!(
        AHEAD
            .iter()
            .all(|t| state_of(&jobs, t) == Some(State::Deleted)),
        "{jobs:?}"
    );
    assert!(tick(&timer).await.fired.is_empty());

    recurring
        .add_or_update("ru", &Ok1 { n: 3 }, EVERY_20S, RecurringOptions::default())
        .await
        .unwrap();
    assert_eq!(tick(&timer).await.fired.len(), 6);
    let jobs = occurrences(&env, &AHEAD).await;
    for t in AHEAD {
        let job = jobs[t].as_ref().unwrap();
        assert_eq!(
            (job.state, job.args["n"].as_u64()),
            (State::Scheduled, Some(3)),
            "{t}"
        );
    }
}

/// A firing that fails says so in `last_error` (and the log) and is tried
/// again on the next tick, which clears it.
#[tokio::test]
async fn a_failed_firing_is_visible_and_retried() {
    let (env, clock) = manual_env(utc("2026-06-01T10:00:05Z")).await;
    let timer = Timer::new(&env.client);
    let recurring = env.client.recurring();
    recurring
        .add_or_update("ru", &Ok1 { n: 1 }, EVERY_20S, RecurringOptions::default())
        .await
        .unwrap();
    env.faults.fail("TransactWriteItems", "recurring#ru");
    let r = tick(&timer).await;
    assert_eq!((r.fired.len(), r.errors), (0, 1), "{r:?}");
    let rec = recurring.get("ru").await.unwrap().unwrap();
    let error = rec.last_error.expect("the failure is recorded");
    assert!(
        error.contains("not fired") && error.contains("injected fault"),
        "{error}"
    );

    env.faults.clear();
    clock.set(utc("2026-06-01T10:00:06Z"));
    assert_eq!(tick(&timer).await.fired.len(), 6);
    assert_eq!(recurring.get("ru").await.unwrap().unwrap().last_error, None);
}

/// Recording a failed firing never brings back a recurring job removed
/// meanwhile: the error write is conditional on the job existing.
#[tokio::test]
async fn an_error_write_does_not_recreate_a_removed_job() {
    let (env, _clock) = manual_env(utc("2026-06-01T10:00:05Z")).await;
    let timer = Timer::new(&env.client);
    let recurring = env.client.recurring();
    recurring
        .add_or_update("ru", &Ok1 { n: 1 }, EVERY_20S, RecurringOptions::default())
        .await
        .unwrap();
    // The firing's transaction meets a conflict six times (about 300 ms of
    // retries), then fails; the job is removed in the meantime.
    env.faults.conflict("TransactWriteItems", "recurring#ru", 6);
    let ticking = {
        let timer = timer.clone();
        tokio::spawn(async move { timer.tick(Duration::from_secs(30)).await.unwrap() })
    };
    while env.calls.count("TransactWriteItems") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(recurring.remove("ru").await.unwrap());
    let r = ticking.await.unwrap();
    assert_eq!(r.errors, 1, "{r:?}");
    assert!(
        recurring.get("ru").await.unwrap().is_none(),
        "removed stays removed"
    );
    assert!(recurring.list().await.unwrap().is_empty());
}
