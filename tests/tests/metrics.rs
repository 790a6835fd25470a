//! The metrics roll-up: finished jobs counted per minute, hour and kind
//! from the index, with no write on the job's path, each job once.

use hangar::{NewJob, State, Timer};
use hangar_integration_tests::TestEnv;

use crate::support::{Ok1, Runs, SHORT, registry};
use crate::timer::{manual_env, utc};

async fn finish(env: &TestEnv, job: NewJob, state: State) {
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let id = env.client.enqueue(job).await.unwrap();
    env.drive_to(&poller, &id, state, SHORT).await;
}

/// Jobs that Succeeded or Failed are rolled up into the minute, the hour
/// and their kind; a second roll-up counts nothing twice; reading the
/// figures is one batch read whatever the number of jobs.
#[tokio::test]
async fn finished_jobs_are_rolled_up_once() {
    let t0 = utc("2026-06-01T10:15:10Z");
    let (env, clock) = manual_env(t0).await;
    let timer = Timer::new(&env.client);
    for n in 0..3 {
        finish(&env, NewJob::of(&Ok1 { n }).unwrap(), State::Succeeded).await;
    }
    let unknown = NewJob::new("unknown-kind", serde_json::json!({})).retries(0);
    finish(&env, unknown, State::Failed).await;

    // Not before the index has settled.
    assert_eq!(timer.roll_up().await.unwrap().jobs, 0);
    clock.set(t0 + chrono::Duration::seconds(40));
    assert_eq!(timer.roll_up().await.unwrap().jobs, 4);
    assert_eq!(timer.roll_up().await.unwrap().jobs, 0, "counted once");

    env.calls.reset();
    let t = env.client.throughput().await.unwrap();
    assert_eq!(env.calls.counts(), [("BatchGetItem".to_owned(), 1)].into());
    assert_eq!((t.minutes.len(), t.hours.len()), (60, 24));
    let minute = t
        .minutes
        .iter()
        .find(|(at, _)| *at == utc("2026-06-01T10:15:00Z"))
        .unwrap();
    assert_eq!((minute.1.s, minute.1.f), (3, 1));
    let hour = t.hours.last().unwrap();
    assert_eq!(
        (hour.0, hour.1.s, hour.1.f),
        (utc("2026-06-01T10:00:00Z"), 3, 1)
    );

    let kinds: std::collections::BTreeMap<String, hangar::metrics::KindTally> = env
        .client
        .kind_metrics()
        .await
        .unwrap()
        .into_iter()
        .collect();
    let ok = &kinds["ok"];
    assert_eq!((ok.jobs, ok.runs, ok.failures), (3, 3, 0));
    assert!(ok.quantile_ms(0.5).is_some(), "durations are recorded");
    let failed = &kinds["unknown-kind"];
    assert_eq!((failed.jobs, failed.runs, failed.failures), (1, 1, 1));

    // A job finishing a minute later goes into the same hour.
    clock.set(t0 + chrono::Duration::seconds(60));
    finish(&env, NewJob::of(&Ok1 { n: 9 }).unwrap(), State::Succeeded).await;
    clock.set(t0 + chrono::Duration::seconds(100));
    assert_eq!(timer.roll_up().await.unwrap().jobs, 1);
    let t = env.client.throughput().await.unwrap();
    let minute = t
        .minutes
        .iter()
        .find(|(at, _)| *at == utc("2026-06-01T10:16:00Z"))
        .unwrap();
    assert_eq!(minute.1.s, 1);
    assert_eq!(t.hours.last().unwrap().1.s, 4);
}
