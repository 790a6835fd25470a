//! Operations for tests and benchmarks only (feature `testing`).

use std::time::Duration;

use super::Client;
use crate::error::Result;
use crate::job::{HistoryEntry, JobId, JobRecord};
use crate::state::State;
use crate::timing::chrono_dur;
use serde_json::json;

impl Client {
    /// Writes job records as given, 25 to a `BatchWriteItem`, sending no
    /// message: for seeding tests and benchmarks with jobs in any state
    /// (ten thousand finished jobs in seconds). Not for applications: a
    /// record written this way in an active state has no message to run it.
    #[doc(hidden)]
    pub async fn seed(&self, jobs: &[JobRecord]) -> Result<()> {
        self.core.store.insert_many(jobs).await
    }

    /// Gives out sequence numbers of an ordering key without creating jobs
    /// (tests: a creation cut short after its number was given). Returns the
    /// first.
    pub async fn number_for_test(&self, key: &str, count: u64) -> Result<u64> {
        self.core
            .store
            .allocate_seq(key, count, self.core.now())
            .await
    }

    /// Takes a slot of a concurrency key for a run named `name` whose lease
    /// ends in `lease`, as a worker does before a claim (tests: a run that
    /// crashes holding a slot). True if taken.
    pub async fn take_slot_for_test(
        &self,
        key: &str,
        limit: u32,
        name: &str,
        lease: Duration,
    ) -> Result<bool> {
        let now = self.core.now();
        let holder = format!(
            "{name}@{}",
            crate::clock::to_millis(now + chrono_dur(lease))
        );
        self.core
            .store
            .acquire_slot(key, limit, &holder, None, now)
            .await
    }
}

#[doc(hidden)]
/// The `i`th finished job of a store, as the worker leaves it: created up
/// to a day before `now`, run for 5 to 904 ms, Succeeded or Failed.
pub fn finished_record(i: usize, state: State, now: chrono::DateTime<chrono::Utc>) -> JobRecord {
    let created = now - chrono::Duration::seconds((i % 86_000) as i64 + 120);
    let started = created + chrono::Duration::seconds(1);
    let ms = (i % 900) as i64 + 5;
    let done = started + chrono::Duration::milliseconds(ms);
    let mut last = HistoryEntry::new(state, done, None).with("duration_ms", ms.to_string());
    if state == State::Failed {
        last = last
            .with("error_type", "Permanent")
            .with("error_message", format!("job {i} failed"));
    }
    JobRecord {
        id: JobId::generate(),
        kind: format!("kind-{}", i % 5),
        args: json!({ "n": i }),
        options: crate::job::JobOptions::default(),
        state,
        version: 3,
        attempt: 1,
        created_at: created,
        updated_at: done,
        run_at: None,
        handed_off: false,
        lease_until: None,
        claimed_version: None,
        parent: None,
        continuations: Vec::new(),
        last_error: (state == State::Failed).then(|| format!("job {i} failed")),
        expires_at: Some(now + chrono::Duration::days(7)),
        parked_at: None,
        waiting_for: None,
        sequence: None,
        batch: None,
        completes_batch: Default::default(),
        params: Default::default(),
        tags: Vec::new(),
        trace: None,
        result: None,
        progress: None,
        history: vec![
            HistoryEntry::new(State::Enqueued, created, None),
            HistoryEntry::new(State::Processing, started, None).with("worker", "w1"),
            last,
        ],
    }
}
