//! Acting on every job that matches a filter: requeue or delete all the
//! Failed jobs of a queue, or those whose error mentions a timeout, past
//! any page.
//!
//! A bulk action walks the listing ([`ListQuery`]) a page at a time, newest
//! first, and changes each job of the page by its own conditional write
//! (as [`Client::requeue`] or [`Client::delete`] would), so a job that
//! moved since the page was read is left alone. Nothing else is written:
//! the only state of the action is the listing's [`Cursor`], which a
//! caller keeps to go on after a stop ([`BulkRun::resume`]).
//!
//! The pace is bounded ([`BulkRun::rate`]): the table's capacity is
//! shared with the workers, and each job changed costs what one requeue
//! or delete costs (see the cost table).

use std::time::Duration;
use tokio::time::Instant;

use chrono::{DateTime, Utc};

use super::Client;
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::store::{Cursor, ListQuery};

/// What a bulk action does to each job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// [`Client::requeue`]: run again now, its retry count started over.
    Requeue,
    /// [`Client::delete`].
    Delete,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Requeue => "requeue",
            BulkAction::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "requeue" => Ok(BulkAction::Requeue),
            "delete" => Ok(BulkAction::Delete),
            other => Err(Error::invalid(
                "bulk action",
                format!("{other:?} (use requeue or delete)"),
            )),
        }
    }
}

/// The most jobs one step reads and changes.
pub const MAX_STEP: usize = 1000;

/// Jobs changed at once within a step.
const CONCURRENCY: usize = 16;

/// One step of a bulk action: a page of the listing, each of its jobs
/// changed.
#[derive(Debug, Clone, Default)]
pub struct BulkStep {
    /// Jobs changed.
    pub changed: Vec<JobId>,
    /// Jobs left as they were, with why (moved since the page was read,
    /// or a state the action does not take).
    pub refused: Vec<(JobId, String)>,
    /// Jobs read for the page (a search reads more than it matches).
    pub read: usize,
    /// Where the next step starts; None once the listing is done.
    pub next: Option<Cursor>,
    /// The index time of the last job read: how far back the action got.
    pub reached: Option<DateTime<Utc>>,
}

/// A bulk action's totals so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkProgress {
    pub changed: usize,
    pub refused: usize,
    pub read: usize,
    /// Steps taken.
    pub steps: usize,
    /// Where it goes on (None: done).
    pub next: Option<Cursor>,
}

impl BulkProgress {
    fn add(&mut self, step: &BulkStep) {
        self.changed += step.changed.len();
        self.refused += step.refused.len();
        self.read += step.read;
        self.steps += 1;
        self.next = step.next.clone();
    }
}

/// A whole bulk action, step after step at a bounded rate (see the module
/// docs). Built by [`Client::bulk`].
#[derive(Debug)]
pub struct BulkRun<'a> {
    client: &'a Client,
    action: BulkAction,
    query: ListQuery,
    from: Option<Cursor>,
    rate: f64,
    step: usize,
    limit: Option<usize>,
}

impl<'a> BulkRun<'a> {
    /// At most this many jobs changed a second (default 100: about 600
    /// write units a second for requeues).
    pub fn rate(mut self, jobs_per_second: f64) -> Self {
        self.rate = jobs_per_second.max(0.1);
        self
    }

    /// Goes on from where a stopped action got ([`BulkProgress::next`]).
    pub fn resume(mut self, from: Cursor) -> Self {
        self.from = Some(from);
        self
    }

    /// Jobs a step reads and changes (default 100, at most [`MAX_STEP`]).
    pub fn step(mut self, size: usize) -> Self {
        self.step = size.clamp(1, MAX_STEP);
        self
    }

    /// Stops after about this many jobs changed (a step is not cut).
    pub fn limit(mut self, jobs: usize) -> Self {
        self.limit = Some(jobs);
        self
    }

    /// Runs the action to the end of the listing (or the limit), calling
    /// `progress` after each step. An error stops it: the progress so far
    /// ([`BulkProgress::next`]) says where to resume.
    pub async fn run(
        self,
        mut progress: impl FnMut(&BulkStep, &BulkProgress),
    ) -> std::result::Result<BulkProgress, (Error, BulkProgress)> {
        let mut total = BulkProgress {
            next: self.from.clone(),
            ..BulkProgress::default()
        };
        let mut cursor = self.from.clone();
        let began = self.client.now();
        loop {
            let started = Instant::now();
            let size = match self.limit {
                Some(limit) => self.step.min(limit.saturating_sub(total.changed)),
                None => self.step,
            };
            if size == 0 {
                break;
            }
            let step = match (self.client)
                .bulk_step_since(self.action, &self.query, cursor.as_ref(), size, Some(began))
                .await
            {
                Ok(step) => step,
                Err(e) => return Err((e, total)),
            };
            total.add(&step);
            progress(&step, &total);
            let Some(next) = step.next else { break };
            cursor = Some(next);
            // Hold the pace: the step's writes spread over the time they
            // are allowed at the rate.
            let acted = step.changed.len() + step.refused.len();
            let allowed = Duration::from_secs_f64(acted as f64 / self.rate);
            if let Some(wait) = allowed.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        Ok(total)
    }
}

impl Client {
    /// A bulk action on every job `query` lists: see [`BulkRun`].
    pub fn bulk(&self, action: BulkAction, query: ListQuery) -> BulkRun<'_> {
        BulkRun {
            client: self,
            action,
            query,
            from: None,
            rate: 100.0,
            step: 100,
            limit: None,
        }
    }

    /// One step of a bulk action: the next page of `query` from `cursor`
    /// (at most `size` jobs), each changed by its own conditional write
    /// (requeues' wake-ups sent in batches).
    pub async fn bulk_step(
        &self,
        action: BulkAction,
        query: &ListQuery,
        cursor: Option<&Cursor>,
        size: usize,
    ) -> Result<BulkStep> {
        self.bulk_step_since(action, query, cursor, size, None)
            .await
    }

    /// [`Client::bulk_step`], leaving alone the jobs changed after `began`
    /// (those the action itself moved and that came back to the state,
    /// a retry behind the cursor of a Scheduled listing).
    pub(crate) async fn bulk_step_since(
        &self,
        action: BulkAction,
        query: &ListQuery,
        cursor: Option<&Cursor>,
        size: usize,
        began: Option<DateTime<Utc>>,
    ) -> Result<BulkStep> {
        let page = self
            .list_page(query, size.clamp(1, MAX_STEP), cursor)
            .await?;
        let mut step = BulkStep {
            read: page.read,
            next: page.next,
            reached: page.searched_to,
            ..BulkStep::default()
        };
        let mut ids: Vec<JobId> = Vec::new();
        for job in page.jobs {
            match began {
                Some(began) if job.updated_at > began => step.refused.push((
                    job.id,
                    "changed since the action began: left as it is".to_owned(),
                )),
                _ => ids.push(job.id),
            }
        }
        // Each write on the condition that the job is still in the state
        // listed (the page's read is eventually consistent).
        let from = Some(query.state);
        let results = match action {
            BulkAction::Requeue => {
                self.requeue_many_from(&ids, from, CONCURRENCY, |_, _| {})
                    .await
            }
            BulkAction::Delete => self.delete_many_from(&ids, from, CONCURRENCY).await,
        };
        for (id, res) in results {
            match res {
                Ok(()) => step.changed.push(id),
                Err(e) => step.refused.push((id, e.to_string())),
            }
        }
        Ok(step)
    }
}
