//! Recurring jobs from the client's side: register, update, trigger,
//! enable, disable and remove them, and read them as a person reads them.

use chrono::{DateTime, Utc};

use super::Client;
use crate::cron::Schedule;
use crate::error::{Error, Result};
use crate::job::{IntoNewJob, JobId};
use crate::recurring::{
    LastStarted, RecurringJob, RecurringOptions, RecurringStatus, occurrence_job_id,
    validate_recurring_id,
};
use crate::state::State;

/// How often an update, disable or removal starts over when a tick fired
/// the recurring job while it was being changed.
const CHANGE_ROUNDS: usize = 5;

/// Recurring-job operations of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct Recurring<'a> {
    client: &'a Client,
}

impl Client {
    /// Recurring-job operations.
    pub fn recurring(&self) -> Recurring<'_> {
        Recurring { client: self }
    }
}

impl Recurring<'_> {
    /// Creates or updates a recurring job. An invalid cron expression or time
    /// zone is refused here. Registering the same definition again changes
    /// nothing. An update that changes it keeps the run history and the
    /// enabled flag, deletes the occurrences fired ahead that have not
    /// started, and fires from the next occurrence after now under the new
    /// definition.
    pub async fn add_or_update(
        &self,
        id: &str,
        job: impl IntoNewJob,
        cron: &str,
        options: RecurringOptions,
    ) -> Result<RecurringJob> {
        validate_recurring_id(id)?;
        let job = job.into_new_job()?;
        job.validate()?;
        let schedule = Schedule::parse(cron, &options.tz)?;
        let core = &self.client.core;
        core.queues.url(&job.options.queue).await?;
        for _ in 0..CHANGE_ROUNDS {
            let now = core.now();
            let existing = core.store.get_recurring(id).await?;
            let record = RecurringJob {
                id: id.to_owned(),
                kind: job.kind.clone(),
                args: job.args.clone(),
                options: job.options.clone(),
                cron: schedule.expr().to_owned(),
                tz: schedule.tz().name().to_owned(),
                misfire: options.misfire,
                enabled: existing.as_ref().is_none_or(|e| e.enabled),
                next_run: schedule.next_after(now),
                last_run: existing.as_ref().and_then(|e| e.last_run),
                last_job_id: existing.as_ref().and_then(|e| e.last_job_id.clone()),
                last_error: None,
                created_at: existing.as_ref().map_or(now, |e| e.created_at),
                updated_at: now,
                version: existing.as_ref().map_or(1, |e| e.version + 1),
            };
            if let Some(old) = &existing {
                if old.same_definition(&record) {
                    return Ok(old.clone());
                }
                self.stop_fired_ahead(old, "updated", now).await?;
            }
            match core
                .store
                .put_recurring(&record, existing.as_ref().map(|e| e.version))
                .await
            {
                Err(Error::Conflict { .. }) => continue,
                other => return other.map(|()| record),
            }
        }
        Err(Error::Conflict {
            id: JobId::parse(id).expect("recurring ids are valid job ids"),
        })
    }

    /// Reads a recurring job.
    pub async fn get(&self, id: &str) -> Result<Option<RecurringJob>> {
        validate_recurring_id(id)?;
        self.client.core.store.get_recurring(id).await
    }

    async fn must_get(&self, id: &str) -> Result<RecurringJob> {
        self.get(id)
            .await?
            .ok_or_else(|| Error::RecurringNotFound { id: id.to_owned() })
    }

    /// Every recurring job, by id.
    pub async fn list(&self) -> Result<Vec<RecurringJob>> {
        self.client.core.store.list_recurring().await
    }

    /// Every recurring job with its last occurrence that came due (and its
    /// job's state) and its next one: the list, and one `BatchGetItem` of
    /// the last occurrences' jobs.
    pub async fn statuses(&self) -> Result<Vec<RecurringStatus>> {
        let core = &self.client.core;
        let now = core.now();
        let list = self.list().await?;
        let due: Vec<Option<(DateTime<Utc>, JobId)>> =
            list.iter().map(|r| r.last_due(now)).collect();
        let mut ids: Vec<JobId> = due.iter().flatten().map(|(_, id)| id.clone()).collect();
        ids.extend(list.iter().filter_map(|r| r.last_job_id.clone()));
        ids.sort_unstable();
        ids.dedup();
        let jobs = core.store.get_many(&ids, now).await?;
        let state_of = |id: &JobId| jobs.iter().find(|j| &j.id == id).map(|j| j.state);
        Ok(list
            .into_iter()
            .zip(due)
            .map(|(recurring, due)| RecurringStatus {
                last_started: due.map(|(occurrence, job_id)| LastStarted {
                    state: state_of(&job_id),
                    occurrence,
                    job_id,
                }),
                next: recurring.next_due(now),
                last_job_state: recurring.last_job_id.as_ref().and_then(state_of),
                recurring,
            })
            .collect())
    }

    /// Creates a job from the recurring job now, whatever its schedule or
    /// enabled flag; the schedule is unchanged.
    pub async fn trigger(&self, id: &str) -> Result<JobId> {
        let rec = self.must_get(id).await?;
        let job = crate::job::NewJob::new(rec.kind.clone(), rec.args.clone())
            .options(rec.options.clone());
        let job_id = self.client.enqueue(job).await?;
        let core = &self.client.core;
        core.store
            .recurring_triggered(id, &job_id, core.now())
            .await?;
        Ok(job_id)
    }

    /// Deletes a recurring job, and the occurrences it fired ahead that have
    /// not started; jobs already running or finished are not touched.
    /// Returns whether it existed.
    pub async fn remove(&self, id: &str) -> Result<bool> {
        validate_recurring_id(id)?;
        let core = &self.client.core;
        // Read first: a delete whose answer is lost is tried again by the
        // SDK and then finds nothing; the record read here still says
        // which occurrences the job fired ahead.
        let Some(read) = core.store.get_recurring(id).await? else {
            return Ok(false);
        };
        let old = core.store.delete_recurring(id).await?.unwrap_or(read);
        self.stop_fired_ahead(&old, "removed", core.now()).await?;
        Ok(true)
    }

    /// Stops a recurring job from firing; the occurrences it fired ahead
    /// that have not started are deleted.
    pub async fn disable(&self, id: &str) -> Result<()> {
        self.set_enabled(id, false).await
    }

    /// Lets a disabled recurring job fire again, from its next occurrence
    /// after now (occurrences while disabled are not caught up).
    pub async fn enable(&self, id: &str) -> Result<()> {
        self.set_enabled(id, true).await
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let core = &self.client.core;
        for _ in 0..CHANGE_ROUNDS {
            let mut rec = self.must_get(id).await?;
            if rec.enabled == enabled {
                return Ok(());
            }
            let now = core.now();
            if enabled {
                rec.next_run = Schedule::parse(&rec.cron, &rec.tz)?.next_after(now);
            } else {
                self.stop_fired_ahead(&rec, "disabled", now).await?;
            }
            rec.enabled = enabled;
            rec.updated_at = now;
            let old_version = rec.version;
            rec.version += 1;
            match core.store.put_recurring(&rec, Some(old_version)).await {
                Err(Error::Conflict { .. }) => continue,
                other => return other,
            }
        }
        Err(Error::Conflict {
            id: JobId::parse(id).expect("recurring ids are valid job ids"),
        })
    }

    /// Deletes the occurrences a recurring job fired ahead of time (due
    /// after now, up to its last firing) that have not started.
    async fn stop_fired_ahead(
        &self,
        rec: &RecurringJob,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(last) = rec.last_run.filter(|t| *t > now) else {
            return Ok(());
        };
        let Ok(schedule) = Schedule::parse(&rec.cron, &rec.tz) else {
            return Ok(());
        };
        let mut ids = Vec::new();
        let mut cursor = schedule.next_after(now);
        while let Some(occurrence) = cursor.filter(|t| *t <= last) {
            ids.push(occurrence_job_id(&rec.id, occurrence));
            cursor = schedule.next_after(occurrence);
        }
        let client = self.client;
        let core = &client.core;
        for job in core.store.get_many(&ids, now).await? {
            if job.state != State::Scheduled {
                continue;
            }
            let reason = format!(
                "Recurring job {} was {why} before this occurrence started",
                rec.id
            );
            match client.delete_as(&job, reason).await {
                Ok(()) | Err(Error::Conflict { .. } | Error::InvalidTransition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
