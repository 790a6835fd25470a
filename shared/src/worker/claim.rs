//! The claim: one conditional write that takes a job for a run and sets
//! its lease, or the reason there is nothing to run (put back until due or
//! until another run's lease passes, dropped as stale); and the reclaim of
//! a job whose run lost its worker.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::finish::late_by;
use super::{LEASE_MARGIN, Outcome, Worker};
use crate::clock::fmt_time;
use crate::error::{Result, error_chain};
use crate::job::{HistoryEntry, JobRecord};
use crate::message::WakeUp;
use crate::state::State;
use crate::store::{AttemptChange, Change, Expect, Extra, WriteError};
use crate::timing::{EARLY_TOLERANCE, MAX_SQS_DELAY, chrono_dur};

pub(super) enum Claim {
    Claimed(Box<JobRecord>),
    /// Send a copy to this queue after this long, for this reason.
    PutBack {
        after: Duration,
        queue: String,
        why: String,
    },
    Dropped(String),
}

/// History data key of a claim's token (see `Worker::claim`).
const CLAIM_DATA: &str = "claim";

impl Worker {
    pub(super) async fn claim_and_run(
        &self,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Outcome {
        let claim = match self.claim(w, now, deadline).await {
            Ok(c) => c,
            Err(e) => return Outcome::Retry(error_chain(&e)),
        };
        match claim {
            Claim::Claimed(job) if late_by(&job, now).is_some() => {
                self.count(&job, |t| t.given_up += 1);
                match self.give_up_late(*job, now).await {
                    Ok(state) => Outcome::Ran(state),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                }
            }
            Claim::Claimed(job) => match self.run(*job, deadline).await {
                Ok(state) => Outcome::Ran(state),
                Err(e) => Outcome::Retry(error_chain(&e)),
            },
            Claim::PutBack { after, queue, why } => {
                tracing::info!(job = %w.job, why, after_s = after.as_secs(), "putting message back");
                match self.core.queues.send(&queue, w, after).await {
                    Ok(()) => Outcome::PutBack(after),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                }
            }
            Claim::Dropped(why) => Outcome::Dropped(why),
        }
    }

    /// The lease for a run starting now.
    pub(super) fn lease(
        &self,
        job_timeout: Duration,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        let by_timeout = now + chrono_dur(job_timeout);
        let end = match deadline {
            Some(d) if d < by_timeout => d,
            _ => by_timeout,
        };
        end + chrono_dur(LEASE_MARGIN)
    }

    async fn claim(
        &self,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let mut assume = w.state.unwrap_or(State::Enqueued);
        // Marks this claim's history entry as this claim's alone: if the
        // write happened but its answer was lost, the SDK's retry is refused
        // by the condition, and `Store::apply` knows its own entries in the
        // item returned (two deliveries of one message claiming at the same
        // instant still write different entries).
        let token = format!("{:016x}", crate::entropy::u64());
        // At most: the hinted claim, the other claim, a reclaim.
        for _ in 0..3 {
            let (expect, entries) = if assume == State::Scheduled {
                (
                    Expect {
                        version: Some(w.v),
                        states: vec![State::Scheduled],
                        extra: Extra::DueBy(now + chrono_dur(EARLY_TOLERANCE)),
                        seen: None,
                        conts: None,
                    },
                    vec![
                        HistoryEntry::new(State::Enqueued, now, Some("Due".to_owned())),
                        self.processing_entry(now, None).with(CLAIM_DATA, &token),
                    ],
                )
            } else {
                (
                    Expect {
                        version: Some(w.v),
                        states: vec![State::Enqueued],
                        extra: Extra::None,
                        seen: None,
                        conts: None,
                    },
                    vec![self.processing_entry(now, None).with(CLAIM_DATA, &token)],
                )
            };
            // The message carries the job's timeout; if it is missing or
            // too short, fit_lease corrects the lease before the run.
            let hinted = w
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(crate::job::DEFAULT_TIMEOUT);
            let lease = self.lease(hinted, now, deadline);
            let change = self.claim_change(entries, lease, w.v);
            match self.core.store.apply(&w.job, &expect, change, now).await {
                Ok(job) => return self.fit_lease(job, now, deadline).await,
                Err(WriteError::Other(e)) => return Err(e),
                Err(WriteError::Condition(None)) => {
                    return Ok(Claim::Dropped("job not found".to_owned()));
                }
                Err(WriteError::Condition(Some(old))) => {
                    let fresh = old.version == w.v;
                    match old.state {
                        State::Scheduled if fresh && assume != State::Scheduled => {
                            assume = State::Scheduled;
                        }
                        State::Enqueued if fresh && assume != State::Enqueued => {
                            assume = State::Enqueued;
                        }
                        State::Scheduled if fresh => {
                            let run_at = old.run_at.unwrap_or(now);
                            let wait = (run_at - now).to_std().unwrap_or(Duration::ZERO);
                            if wait > MAX_SQS_DELAY {
                                return Ok(Claim::Dropped(format!(
                                    "early by {}s; the timer hands it off later",
                                    wait.as_secs()
                                )));
                            }
                            return Ok(Claim::PutBack {
                                after: wait,
                                queue: old.options.queue,
                                why: "message arrived before the job is due".into(),
                            });
                        }
                        State::Processing if old.claimed_version == Some(w.v) => {
                            let until = old.lease_until.unwrap_or(now);
                            if until > now {
                                let wait = (until - now).to_std().unwrap_or(Duration::ZERO);
                                return Ok(Claim::PutBack {
                                    after: wait.min(MAX_SQS_DELAY),
                                    queue: old.options.queue,
                                    why: format!(
                                        "another run holds the lease until {}",
                                        fmt_time(until)
                                    ),
                                });
                            }
                            return self.reclaim(&old, w, now, deadline).await;
                        }
                        state => {
                            return Ok(Claim::Dropped(format!(
                                "stale: job is {state} at version {}, message was for version {}",
                                old.version, w.v
                            )));
                        }
                    }
                }
            }
        }
        Ok(Claim::Dropped("job kept changing".to_owned()))
    }

    pub(super) fn processing_entry(
        &self,
        now: DateTime<Utc>,
        reason: Option<String>,
    ) -> HistoryEntry {
        HistoryEntry::new(State::Processing, now, reason)
            .with(crate::workers::WORKER_DATA, self.name.as_str())
    }

    fn claim_change(
        &self,
        entries: Vec<HistoryEntry>,
        lease: DateTime<Utc>,
        claimed_v: u64,
    ) -> Change {
        Change {
            to: State::Processing,
            entries,
            run_at: None,
            lease: Some((lease, claimed_v)),
            // Enqueued and Processing share the timer's Active bucket: the
            // claim writes no index entry. If this run is lost, the timer
            // finds the job when its time there comes and re-sends it once
            // the lease has expired (design invariant 4).
            keep_place: true,
            last_error: None,
            attempt: AttemptChange::Increment,
            params: None,
            args: None,
            result: None,
            progress: None,
        }
    }

    /// A lease from a missing or wrong timeout hint is extended to the job's
    /// real timeout here, before its handler starts (a longer one is left:
    /// harmless, the run is stopped at its own deadline).
    async fn fit_lease(
        &self,
        job: JobRecord,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let lease = self.lease(job.options.timeout, now, deadline);
        // Stored times are whole milliseconds; a lease within a second of
        // the right one is right.
        if job
            .lease_until
            .is_some_and(|l| l + chrono::Duration::seconds(1) >= lease)
        {
            return Ok(Claim::Claimed(Box::new(job)));
        }
        if self.core.store.extend_lease(&job, lease, now).await? {
            Ok(Claim::Claimed(Box::new(JobRecord {
                lease_until: Some(lease),
                ..job
            })))
        } else {
            Ok(Claim::Dropped(
                "job changed right after its claim".to_owned(),
            ))
        }
    }

    async fn reclaim(
        &self,
        old: &JobRecord,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let lost_at = old.lease_until.map(fmt_time).unwrap_or_default();
        let expect = Expect {
            version: Some(old.version),
            states: vec![State::Processing],
            extra: Extra::LeaseExpired {
                claimed_v: w.v,
                now,
            },
            seen: Some(old),
            conts: Some(old.continuations.len()),
        };
        // A job whose runs keep vanishing (a worker crash, an out-of-memory
        // kill) must not be reclaimed forever: the lost runs count against
        // its retries.
        if !old.options.retry.has_retry_after(old.attempt) {
            let change = Change {
                last_error: Some(format!("run {} lost its worker", old.attempt)),
                ..Change::new(
                    State::Failed,
                    HistoryEntry::new(
                        State::Failed,
                        now,
                        Some(format!(
                            "Run {} lost its worker (lease expired at {lost_at}) and no retries are left",
                            old.attempt
                        )),
                    )
                    .with("error_type", "hangar::LeaseExpired"),
                )
            };
            return match self.core.store.apply(&old.id, &expect, change, now).await {
                Ok(_) => Ok(Claim::Dropped(
                    "lease expired with no retries left; job Failed".to_owned(),
                )),
                Err(WriteError::Condition(_)) => {
                    Ok(Claim::Dropped("reclaimed by another worker".to_owned()))
                }
                Err(WriteError::Other(e)) => Err(e),
            };
        }
        let entry = self.processing_entry(
            now,
            Some(format!(
                "Lease of run {} expired at {lost_at}; run presumed lost",
                old.attempt
            )),
        );
        let lease = self.lease(old.options.timeout, now, deadline);
        let change = self.claim_change(vec![entry], lease, w.v);
        match self.core.store.apply(&old.id, &expect, change, now).await {
            Ok(job) => Ok(Claim::Claimed(Box::new(job))),
            Err(WriteError::Condition(_)) => {
                Ok(Claim::Dropped("reclaimed by another worker".to_owned()))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }
}
