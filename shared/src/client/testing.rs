//! Operations for tests and benchmarks only (feature `testing`).

use std::time::Duration;

use super::Client;
use crate::error::Result;
use crate::job::JobRecord;
use crate::timing::chrono_dur;

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
