//! Reading jobs and driving them with a poller until they get where a test
//! waits for them.

use std::time::Duration;

use hangar::{JobId, JobRecord, Poller, Registry, State};

use crate::TestEnv;

impl TestEnv {
    /// `n` jobs of kind `w` (arguments `{"n": i}`) waiting for a slot of
    /// `key` (limit 1), whose one slot a run that never ends holds; in the
    /// order created.
    pub async fn jobs_waiting_on(&self, key: &str, n: u32) -> Vec<JobId> {
        self.client
            .take_slot_for_test(key, 1, "holder", Duration::from_secs(60))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let job = hangar::NewJob::new("w", serde_json::json!({ "n": i })).concurrency(key, 1);
            ids.push(self.client.enqueue(job).await.unwrap());
        }
        let poller = self.poller(Registry::new().raw("w", |_, _| async { Ok(()) }));
        while poller.poll_once().await.unwrap() > 0 {}
        ids
    }

    /// Reads a job, which must exist.
    pub async fn job(&self, id: &JobId) -> JobRecord {
        self.client
            .get(id)
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("job {id} not found"))
    }

    /// Polls until the job satisfies `done`, or panics after `timeout` with
    /// the job's history.
    pub async fn drive_until(
        &self,
        poller: &Poller,
        id: &JobId,
        timeout: Duration,
        done: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let start = std::time::Instant::now();
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            if start.elapsed() > timeout {
                panic!(
                    "job {id} did not get there within {timeout:?}; it is {} with history:\n{}",
                    job.state,
                    history(&job)
                );
            }
            poller.poll_once().await.expect("poll");
        }
    }

    /// Polls until the job is in `state`.
    pub async fn drive_to(
        &self,
        poller: &Poller,
        id: &JobId,
        state: State,
        timeout: Duration,
    ) -> JobRecord {
        self.drive_until(poller, id, timeout, |j| j.state == state)
            .await
    }
}

/// The states of a job's history, in order.
pub fn states(job: &JobRecord) -> Vec<State> {
    job.history.iter().map(|h| h.state).collect()
}

/// A job's history, one entry a line.
pub use hangar_sim::promises::history;
