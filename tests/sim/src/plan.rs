//! What each job of the mix ([`crate::mix`]) must end as, and the
//! batches, moves and counts the checker ([`crate::promises`]) needs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use hangar::{JobId, JobRecord, State};

/// What a job must end as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Want {
    Succeeded,
    Failed,
    Deleted,
    /// A continuation whose parent Failed: it waits, and never runs.
    Awaiting,
    /// An occurrence of the recurring job: it runs, or is deleted with the
    /// recurring job before it starts.
    RanOrDeleted,
}

impl Want {
    /// Whether the job is where it must end.
    pub fn reached(self, j: &JobRecord) -> bool {
        self.reached_by(j.state)
    }

    /// Whether a job in `state` is where it must end.
    pub fn reached_by(self, state: State) -> bool {
        match self {
            Want::Succeeded => state == State::Succeeded,
            Want::Failed => state == State::Failed,
            Want::Deleted => state == State::Deleted,
            Want::Awaiting => state == State::Awaiting,
            Want::RanOrDeleted => matches!(state, State::Succeeded | State::Deleted),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tags {
    pub conc: bool,
    pub rate: bool,
    /// Runs allowed by its retry policy.
    pub max_runs: u32,
    /// Must not have run at all.
    pub never_runs: bool,
    /// Fired by the recurring job (created ahead of its time: no latency).
    pub occurrence: bool,
}

impl Tags {
    pub(crate) fn runs(max_runs: u32) -> Self {
        Tags {
            max_runs,
            ..Tags::default()
        }
    }

    /// A job that must not run at all.
    pub(crate) fn never_runs() -> Self {
        Tags {
            never_runs: true,
            ..Tags::runs(0)
        }
    }
}

/// A batch of the mix: its jobs must succeed, and its continuation run
/// after the last of them.
#[derive(Debug, Clone)]
pub struct PlannedBatch {
    pub id: JobId,
    pub jobs: Vec<JobId>,
    pub then: JobId,
}

#[derive(Default)]
pub struct Plan {
    pub want: HashMap<JobId, (Want, Tags)>,
    pub batches: Vec<PlannedBatch>,
    pub bad_bodies: usize,
    /// Jobs deleted or rescheduled after their creation, by the state they
    /// were in ("rescheduled refused while Processing": a running job
    /// cannot be rescheduled).
    pub moved: BTreeMap<String, usize>,
    /// Missed occurrences of the recurring job its misfire policy skipped.
    pub skipped: usize,
    /// Creations tried again after an error.
    pub retried: usize,
    /// Creations under one unique key (until finished), in order: the id
    /// each returned and when it returned. A new id means the one before
    /// had ended by then.
    pub uniques: Vec<Vec<(JobId, DateTime<Utc>)>>,
    /// Creations under one debounce key, in order: the id each returned
    /// and the `n` of its arguments. A job keeps the arguments of the last
    /// creation that returned it.
    pub debounces: Vec<Vec<(JobId, u64)>>,
    /// Jobs that fail at once, for the bulk delete at the end of the mix
    /// to remove (want: Deleted).
    pub doomed: Vec<JobId>,
    /// Jobs that bulk delete changed (a retried action counts again).
    pub bulk_deleted: usize,
    /// Jobs created with a tag, and the tag: a listing of the tag must
    /// find exactly its jobs.
    pub labelled: Vec<(String, JobId)>,
    /// Jobs an intake request with a `traceparent` created, and that
    /// context: the job must carry it.
    pub traced: Vec<(JobId, String)>,
}

impl Plan {
    /// The `n` jobs of the batch `batch_id` and its continuation: each
    /// must succeed.
    pub(crate) fn add_batch(&mut self, batch_id: &JobId, n: u64) {
        let jobs: Vec<JobId> = (1..=n)
            .map(|k| JobId::parse(format!("{batch_id}.{k}")).expect("a batch job's id"))
            .collect();
        for id in &jobs {
            self.want
                .insert(id.clone(), (Want::Succeeded, Tags::runs(4)));
        }
        let then = JobId::parse(format!("{batch_id}.then1")).expect("a continuation's id");
        self.want
            .insert(then.clone(), (Want::Succeeded, Tags::runs(4)));
        self.batches.push(PlannedBatch {
            id: batch_id.clone(),
            jobs,
            then,
        });
    }

    /// An occurrence the recurring job fired: it must have run, or been
    /// deleted with the recurring job before it started.
    pub fn add_occurrence(&mut self, id: JobId) {
        let tags = Tags {
            occurrence: true,
            ..Tags::runs(4)
        };
        self.want.insert(id, (Want::RanOrDeleted, tags));
    }
}
