//! Who ran what lately: the workers named in the history of recent runs.
//!
//! Nothing is written for it. Every claim already records its worker (the
//! Lambda log stream, the host name or the process id: see
//! [`crate::Worker::with_name`]) in the job's Processing entry, and the
//! entry after it says how the run ended. [`tally`] reads those entries
//! from the jobs that are running or finished lately
//! ([`crate::Client::workers`] lists them, a bounded number of each).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::{JobId, JobRecord};
use crate::state::State;

/// The history key naming the worker of a run.
pub const WORKER_DATA: &str = "worker";

/// One worker's runs since a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRuns {
    /// As the worker names itself.
    pub name: String,
    /// Runs it started since then.
    pub runs: u64,
    /// ...that Succeeded.
    pub succeeded: u64,
    /// ...that failed (Failed, or retried later).
    pub failed: u64,
    /// ...whose end is not recorded (a crash: its lease passed, or the
    /// job was deleted while it ran).
    pub lost: u64,
    /// Jobs it is running now.
    pub running: Vec<JobId>,
    /// Runs per job kind.
    pub kinds: BTreeMap<String, u64>,
    /// Its latest start.
    pub last_started: Option<DateTime<Utc>>,
}

/// The workers seen since a time, and how much was read to see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkersSeen {
    pub since: DateTime<Utc>,
    /// Busiest first.
    pub workers: Vec<WorkerRuns>,
    /// Jobs read.
    pub read: usize,
    /// Whether every running job and every job finished since then was
    /// read (false: more than [`MAX_READ`] of a state; the counts are of
    /// the latest).
    pub complete: bool,
}

/// The most jobs of each state read for [`WorkersSeen`].
pub const MAX_READ: usize = 500;

/// The workers that started runs since `since`, in the history of
/// `jobs`, busiest first.
pub fn tally(jobs: &[JobRecord], since: DateTime<Utc>) -> Vec<WorkerRuns> {
    let mut by_name: BTreeMap<String, WorkerRuns> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for job in jobs {
        // A job listed twice (it moved between two pages' reads) counts once.
        if !seen.insert(&job.id) {
            continue;
        }
        for (i, entry) in job.history.iter().enumerate() {
            let Some(name) = entry.data.get(WORKER_DATA) else {
                continue;
            };
            if entry.state != State::Processing || entry.at < since {
                continue;
            }
            let w = by_name.entry(name.clone()).or_insert_with(|| WorkerRuns {
                name: name.clone(),
                ..WorkerRuns::default()
            });
            w.runs += 1;
            *w.kinds.entry(job.kind.clone()).or_default() += 1;
            w.last_started = w.last_started.max(Some(entry.at));
            match job.history.get(i + 1).map(|next| next.state) {
                Some(State::Succeeded) => w.succeeded += 1,
                Some(State::Failed | State::Scheduled) => w.failed += 1,
                Some(_) => w.lost += 1,
                None if job.state == State::Processing => w.running.push(job.id.clone()),
                None => w.lost += 1,
            }
        }
    }
    let mut all: Vec<WorkerRuns> = by_name.into_values().collect();
    all.sort_by(|a, b| b.runs.cmp(&a.runs).then_with(|| a.name.cmp(&b.name)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{HistoryEntry, JobOptions};

    fn job(id: &str, entries: Vec<HistoryEntry>) -> JobRecord {
        let mut it = entries.into_iter();
        let mut j = JobRecord::new(
            JobId::parse(id.to_owned()).unwrap(),
            "k".into(),
            serde_json::json!({}),
            JobOptions::default(),
            it.next().unwrap(),
        );
        for e in it {
            j.state = e.state;
            j.history.push(e);
        }
        j
    }

    #[test]
    fn runs_are_counted_by_worker_and_by_how_they_ended() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let run =
            |s, w: &str| HistoryEntry::new(State::Processing, t(s), None).with(WORKER_DATA, w);
        let jobs = vec![
            job(
                "a",
                vec![
                    HistoryEntry::new(State::Enqueued, t(0), None),
                    run(1, "w1"),
                    HistoryEntry::new(State::Succeeded, t(2), None),
                ],
            ),
            job(
                "b",
                vec![
                    HistoryEntry::new(State::Enqueued, t(0), None),
                    run(1, "w2"),
                    HistoryEntry::new(State::Scheduled, t(2), None),
                    HistoryEntry::new(State::Enqueued, t(3), None),
                    run(4, "w1"),
                ],
            ),
            // Before the window: not counted.
            job(
                "c",
                vec![
                    HistoryEntry::new(State::Enqueued, t(-100), None),
                    run(-99, "w3"),
                    HistoryEntry::new(State::Failed, t(-98), None),
                ],
            ),
        ];
        let all = tally(&jobs, t(0));
        assert_eq!(all.len(), 2);
        let w1 = &all[0];
        assert_eq!(
            (w1.name.as_str(), w1.runs, w1.succeeded, w1.failed),
            ("w1", 2, 1, 0)
        );
        assert_eq!(w1.running, vec![JobId::parse("b".to_owned()).unwrap()]);
        assert_eq!(w1.last_started, Some(t(4)));
        let w2 = &all[1];
        assert_eq!((w2.name.as_str(), w2.runs, w2.failed), ("w2", 1, 1));
    }
}
