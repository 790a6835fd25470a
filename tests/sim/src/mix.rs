//! The mix of jobs the soak (on the emulator) and the simulation (on the
//! models) both create, by the index of each in the run, and what each
//! must end as: the plan the checker ([`crate::promises`]) holds the run
//! to.
//!
//! Every creation carries an idempotency key, so that a creation whose
//! answer was lost, or whose SDK gave up, is tried again without making a
//! second job, as a careful caller does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{
    Batch, BulkAction, Client, ContinueOn, JobId, ListQuery, NewJob, RecurringOptions, RetryPolicy,
    State, UniqueUntil,
};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

pub use crate::plan::{Plan, PlannedBatch, Tags, Want};

/// The kind of every job of the mix; its handler sleeps `args.ms`, then
/// fails if `args.fail` or its attempt is at most `args.fail_first`, and
/// else returns [`result_of`] its run.
pub const KIND: &str = "ledger.run";
/// The timeout of the mix's jobs.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The concurrency key of the mix's jobs under one, and its limit.
pub const CONC_KEY: &str = "soak-c";
pub const CONC_LIMIT: usize = 3;
/// The rate limit of `soak-r`: starts per window, and the window in ms.
pub const RATE: (u32, u64) = (20, 1000);
/// The name of the recurring job; its occurrences' ids start with it and
/// a colon.
pub const RECURRING: &str = "soak-tick";

/// The most jobs a batch of the mix has, read back by its continuation.
pub const MAX_BATCH: usize = 1_000;

/// What a successful run of the mix returns, kept as its job's result:
/// its job and attempt; for a continuation of a job, what the parent
/// returned (`parent`); for a batch's continuation, how many of the
/// batch's jobs kept a result (`batch_results`). It reports the run done
/// (progress 1, "done"). The checker holds every Succeeded job to both.
pub async fn result_of(ctx: &hangar::JobContext) -> Result<Value, hangar::JobFailure> {
    ctx.progress(1.0, "done").await?;
    let mut result = json!({ "id": ctx.id().as_str(), "attempt": ctx.attempt() });
    match ctx.parent() {
        Some(p) if p.batch => {
            let results = ctx.batch_results::<Value>(1, MAX_BATCH).await?;
            let kept = results.iter().filter(|(_, r)| r.is_some()).count();
            result["batch_results"] = json!(kept);
        }
        Some(_) => {
            result["parent"] = ctx.parent_result::<Value>().await?.unwrap_or(Value::Null);
        }
        None => {}
    }
    Ok(result)
}

/// Whether a job is an occurrence of the recurring job.
pub fn is_occurrence(id: &JobId) -> bool {
    id.as_str()
        .split_once(':')
        .is_some_and(|(name, _)| name == RECURRING)
}

/// The mark in the arguments of the jobs the mix's bulk delete removes.
const DOOMED: &str = "bulk-doomed";

/// A job sleeping `ms` milliseconds.
fn ledger_job(ms: u64) -> NewJob {
    job(json!({ "ms": ms }))
}

fn job(args: Value) -> NewJob {
    NewJob::new(KIND, args).timeout(TIMEOUT).retry(RetryPolicy {
        attempts: 3,
        delays_secs: vec![1],
        ..RetryPolicy::default()
    })
}

/// Creates the jobs of the mix and records in the plan what each must end
/// as.
#[derive(Clone)]
pub struct Mix {
    pub client: Client,
    /// The stack's default queue, for intake requests sent as any producer
    /// sends them.
    pub raw: (aws_sdk_sqs::Client, String),
    pub plan: Arc<Mutex<Plan>>,
    pub rng: Arc<Mutex<StdRng>>,
    /// How far ahead the delayed jobs may be scheduled: beyond SQS's 15
    /// minutes, the timer hands them to SQS.
    pub horizon: Duration,
}

impl Mix {
    /// Creates job `i` of the mix (its kind chosen by `i % 100`); a job
    /// for a batch is returned instead.
    pub async fn create(self, i: usize) -> Option<NewJob> {
        let ms = self.draw(0..30);
        match i % 100 {
            0..40 => self.enqueued(i, ms).await,
            40..50 => self.delayed(i, ms).await,
            50..58 => self.failing_first(i, ms).await,
            58..62 => self.always_failing(i, ms).await,
            62..64 => self.timing_out(i).await,
            64..69 => self.continued_on_success(i, ms).await,
            69..71 => self.continued_after_failure(i, ms).await,
            71..74 => self.deleted_while_scheduled(i, ms).await,
            74..76 => self.rescheduled_while_scheduled(i, ms).await,
            76..81 => self.through_intake(i, ms).await,
            81..86 => self.under_concurrency_key(i).await,
            86..91 => self.rate_limited(i, ms).await,
            91..93 => self.deleted_a_while_after(i).await,
            93..95 => self.rescheduled_a_while_after(i).await,
            95 => self.unique_pair(i, ms).await,
            96 => self.debounced_burst(i, ms).await,
            97 => self.doomed(i, ms).await,
            _ => return Some(ledger_job(ms)),
        }
        None
    }

    /// Once every doomed job ([`Mix::doomed`]) has Failed (and the index
    /// shows it), deletes them
    /// all by one bulk action on the Failed jobs whose arguments carry
    /// their mark (searched in another case), five a step: it must reach
    /// each of them, past its first step, and nothing else.
    pub async fn delete_doomed(&self) {
        let doomed = self.plan.lock().unwrap().doomed.clone();
        if doomed.is_empty() {
            return;
        }
        loop {
            let jobs = self
                .retried("reading the doomed jobs", || self.client.get_many(&doomed))
                .await;
            if jobs.len() == doomed.len() && jobs.iter().all(|j| j.state == State::Failed) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // The listing is the index's, which shows a job's new state a
        // moment after its write ("within a fraction of a second"): a
        // bulk action reaches the jobs that entered the state before that.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let query = ListQuery {
            search: Some(DOOMED.to_uppercase()),
            ..ListQuery::state(State::Failed)
        };
        let done = self
            .retried("the bulk delete", || async {
                (self.client.bulk(BulkAction::Delete, query.clone()))
                    .step(5)
                    .rate(50.0)
                    .run(|_, _| {})
                    .await
                    .map_err(|(e, _)| e)
            })
            .await;
        self.plan.lock().unwrap().bulk_deleted += done.changed;
    }

    /// The recurring job: a short job every 2 s.
    pub async fn add_recurring(&self) {
        self.retried("the recurring job", || async {
            self.client
                .recurring()
                .add_or_update(
                    RECURRING,
                    ledger_job(5),
                    "*/2 * * * * *",
                    RecurringOptions::default(),
                )
                .await
        })
        .await;
    }

    /// Removes the recurring job.
    pub async fn remove_recurring(&self) {
        self.retried("the recurring job's removal", || async {
            self.client.recurring().remove(RECURRING).await
        })
        .await;
    }

    /// Starts the batch of the jobs `create` returned, with a continuation
    /// on its success; `n` names it within the run.
    pub async fn start_batch(&self, batch: Batch, n: usize) -> JobId {
        let size = batch.len() as u64;
        let batch = batch
            .id(JobId::parse(format!("mix-batch-{n}")).expect("a batch id"))
            .continue_with(ledger_job(5), ContinueOn::Succeeded)
            .expect("a batch continuation");
        // A batch with its own id is made once: tried again after a lost
        // answer, it is there already.
        let batch_id = self
            .retried("a batch", || async {
                match self.client.start_batch(batch.clone()).await {
                    Err(hangar::Error::AlreadyExists { id }) => Ok(id),
                    other => other,
                }
            })
            .await;
        self.plan.lock().unwrap().add_batch(&batch_id, size);
        batch_id
    }

    fn draw(&self, range: std::ops::Range<u64>) -> u64 {
        self.rng.lock().unwrap().random_range(range)
    }

    fn want(&self, id: JobId, w: Want, tags: Tags) {
        self.plan.lock().unwrap().want.insert(id, (w, tags));
    }

    fn moved(&self, what: &str) {
        *self
            .plan
            .lock()
            .unwrap()
            .moved
            .entry(what.to_owned())
            .or_default() += 1;
    }

    /// An action tried again a second after an error (the SDK's retries
    /// spent, or its retry quota) until it succeeds; each retry counted.
    async fn retried<T, E, F, Fut>(&self, what: &str, mut act: F) -> T
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        for _ in 0..60 {
            match act().await {
                Ok(v) => return v,
                Err(e) => {
                    tracing::warn!("{what} failed, tried again: {e}");
                    self.plan.lock().unwrap().retried += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        panic!("{what} failed 60 times")
    }

    async fn enqueue(&self, job: NewJob, key: &str) -> JobId {
        let job = keyed(job, key);
        self.retried("an enqueue", || self.client.enqueue(job.clone()))
            .await
    }

    async fn schedule(&self, job: NewJob, key: &str, delay: Duration) -> JobId {
        let job = keyed(job, key);
        self.retried("a schedule", || self.client.schedule(job.clone(), delay))
            .await
    }

    async fn continuation(&self, parent: &JobId, job: NewJob, key: &str, on: ContinueOn) -> JobId {
        let job = keyed(job, key);
        self.retried("a continuation", || {
            self.client.continue_with(parent, job.clone(), on)
        })
        .await
    }

    /// One in four carries one of three tags (see `check_tags`).
    async fn enqueued(&self, i: usize, ms: u64) {
        let tag = i.is_multiple_of(4).then(|| format!("mix:t{}", i % 3));
        let job = tag.iter().fold(ledger_job(ms), |job, t| job.tag(t));
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        if let Some(tag) = tag {
            self.plan.lock().unwrap().labelled.push((tag, id.clone()));
        }
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// Scheduled 1 to 20 s ahead, or, with a horizon past 20 s, one in two
    /// up to the horizon.
    async fn delayed(&self, i: usize, ms: u64) {
        let far = self.horizon.as_secs() > 20 && self.draw(0..2) == 0;
        let secs = if far {
            self.draw(20..self.horizon.as_secs())
        } else {
            self.draw(1..20)
        };
        let delay = Duration::from_secs(secs);
        let id = self
            .schedule(ledger_job(ms), &format!("mix-{i}"), delay)
            .await;
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// Fails its first one or two runs, then succeeds.
    async fn failing_first(&self, i: usize, ms: u64) {
        let job = job(json!({"ms": ms, "fail_first": self.draw(1..3)}));
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    async fn always_failing(&self, i: usize, ms: u64) {
        let job = job(json!({"ms": ms, "fail": true})).retry(RetryPolicy {
            attempts: 1,
            delays_secs: vec![1],
            ..RetryPolicy::default()
        });
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        self.want(id, Want::Failed, Tags::runs(2));
    }

    /// Runs 3 s against a timeout of 1 s, without retries.
    async fn timing_out(&self, i: usize) {
        let job = ledger_job(3_000).timeout(Duration::from_secs(1)).retries(0);
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        self.want(id, Want::Failed, Tags::runs(1));
    }

    async fn continued_on_success(&self, i: usize, ms: u64) {
        let parent = self
            .enqueue(ledger_job(ms), &format!("mix-{i}-parent"))
            .await;
        let child = self
            .continuation(
                &parent,
                ledger_job(ms),
                &format!("mix-{i}"),
                ContinueOn::Succeeded,
            )
            .await;
        self.want(parent, Want::Succeeded, Tags::runs(4));
        self.want(child, Want::Succeeded, Tags::runs(4));
    }

    /// A continuation on any end of a parent that Fails: it must wait, and
    /// never run.
    async fn continued_after_failure(&self, i: usize, ms: u64) {
        let parent = self
            .enqueue(
                job(json!({"ms": ms, "fail": true})).retries(0),
                &format!("mix-{i}-parent"),
            )
            .await;
        let child = self
            .continuation(
                &parent,
                ledger_job(ms),
                &format!("mix-{i}"),
                ContinueOn::AnyFinished,
            )
            .await;
        self.want(parent, Want::Failed, Tags::runs(1));
        self.want(child, Want::Awaiting, Tags::never_runs());
    }

    async fn deleted_while_scheduled(&self, i: usize, ms: u64) {
        let id = self.scheduled_far_ahead(i, ms).await;
        self.delete(&id).await;
        self.want(id, Want::Deleted, Tags::never_runs());
    }

    /// Rescheduled to 2 s from now.
    async fn rescheduled_while_scheduled(&self, i: usize, ms: u64) {
        let id = self.scheduled_far_ahead(i, ms).await;
        self.retried("a reschedule", || {
            self.client.reschedule(&id, Duration::from_secs(2))
        })
        .await;
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// A job scheduled 10 minutes ahead: it stays Scheduled for the rest
    /// of the run unless moved.
    async fn scheduled_far_ahead(&self, i: usize, ms: u64) -> JobId {
        self.schedule(
            ledger_job(ms),
            &format!("mix-{i}"),
            Duration::from_secs(600),
        )
        .await
    }

    /// Deletes a job; returns the state it was in when the deletion took
    /// (read from its history when a retried deletion finds it done).
    async fn delete(&self, id: &JobId) -> Option<String> {
        let before = |job: &hangar::JobRecord, at: usize| {
            job.history
                .get(at.checked_sub(1)?)
                .map(|h| h.state.to_string())
        };
        self.retried("a deletion", || async {
            match self.client.delete(id).await {
                Ok(job) => Ok(before(&job, job.history.len() - 1)),
                Err(hangar::Error::InvalidTransition {
                    from: State::Deleted,
                    ..
                }) => {
                    let job = self.client.get(id).await?;
                    Ok(job.and_then(|j| {
                        let at = j.history.iter().rposition(|h| h.state == State::Deleted)?;
                        before(&j, at)
                    }))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// An intake request with an idempotency key: one in five sent twice,
    /// one in five also created by the Rust client with the same key, and
    /// one in ten followed by a bad body.
    async fn through_intake(&self, i: usize, ms: u64) {
        let key = format!("intake-{i}");
        let id = JobId::parse(format!("idem-{key}")).expect("an intake job's id");
        let tp = format!("00-{:032x}-{:016x}-01", i + 1, i + 1);
        let body = json!({"hangar_intake": 1, "kind": KIND, "args": {"ms": ms},
                "idempotency_key": key, "timeout_seconds": 5, "traceparent": tp})
        .to_string();
        self.send_raw(&body).await;
        if i.is_multiple_of(5) {
            self.send_raw(&body).await;
        }
        // The Rust client's idempotent creation with the same key names
        // the same job, whichever creates it (and its trace context).
        if i % 5 == 1 {
            let same = self.enqueue(ledger_job(ms), &key).await;
            assert_eq!(same, id, "one job per key");
        } else {
            self.plan.lock().unwrap().traced.push((id.clone(), tp));
        }
        if i.is_multiple_of(10) {
            self.send_raw(&format!(
                "{{\"hangar_intake\": 1, \"kind\": \"{KIND}\", \"retries\": \"x{i}\"}}"
            ))
            .await;
            self.plan.lock().unwrap().bad_bodies += 1;
        }
        // Retries 10, Hangfire's back-off: at most the policy's runs.
        self.want(id, Want::Succeeded, Tags::runs(11));
    }

    /// Sends a body to the queue as any producer does, again after an
    /// error (a body sent twice is one more duplicate, which intake's key
    /// absorbs).
    async fn send_raw(&self, body: &str) {
        self.retried("a send", || {
            self.raw
                .0
                .send_message()
                .queue_url(&self.raw.1)
                .message_body(body)
                .send()
        })
        .await;
    }

    async fn under_concurrency_key(&self, i: usize) {
        let job = ledger_job(100).concurrency(CONC_KEY, CONC_LIMIT as u32);
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        let tags = Tags {
            conc: true,
            ..Tags::runs(4)
        };
        self.want(id, Want::Succeeded, tags);
    }

    async fn rate_limited(&self, i: usize, ms: u64) {
        let job = ledger_job(ms).rate("soak-r", RATE.0, Duration::from_millis(RATE.1));
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        let tags = Tags {
            rate: true,
            ..Tags::runs(4)
        };
        self.want(id, Want::Succeeded, tags);
    }

    /// Deleted while queued or running (or just after it ran): it ends
    /// Deleted, and no run is claimed after the deletion.
    async fn deleted_a_while_after(&self, i: usize) {
        let id = self.enqueued_a_while_ago(i, 1000..3000).await;
        let was = self.delete(&id).await;
        self.moved(&format!("deleted while {}", was.unwrap_or_default()));
        self.want(id, Want::Deleted, Tags::runs(4));
    }

    /// Rescheduled while queued: it runs 2 s later and the message for its
    /// old time is dropped. Refused while it runs; run again if it had
    /// already finished.
    async fn rescheduled_a_while_after(&self, i: usize) {
        let id = self.enqueued_a_while_ago(i, 500..2000).await;
        let outcome = self
            .retried("a reschedule", || async {
                match self.client.reschedule(&id, Duration::from_secs(2)).await {
                    Ok(due) => Ok(Some(due)),
                    Err(hangar::Error::InvalidTransition { from, .. }) => {
                        assert_eq!(from, State::Processing, "only a running job refuses");
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            })
            .await;
        let outcome = match outcome {
            Some(due) => self.state_before_reschedule(&id, due).await,
            None => "refused while Processing".to_owned(),
        };
        self.moved(&format!("rescheduled {outcome}"));
        // Two runs of attempt 1 at most (before and after a reschedule of
        // the finished job), each with its retries.
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// The state a job was in before the reschedule that made it due at
    /// `due`.
    async fn state_before_reschedule(
        &self,
        id: &JobId,
        due: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let job = self
            .retried("a read", || self.client.get(id))
            .await
            .expect("just rescheduled");
        let due = due.timestamp_millis().to_string();
        let at = job
            .history
            .iter()
            .position(|h| h.data.get("due") == Some(&due))
            .expect("the reschedule's entry");
        format!("while {}", job.history[at.saturating_sub(1)].state)
    }

    /// A job of `ms` milliseconds (a random one of the range), enqueued
    /// 0-4 s ago: queued, running or done by now.
    /// Two creations under one unique key (held until the job finishes),
    /// the second a while after the first: it returns the first job, or,
    /// once that has ended, makes its own.
    async fn unique_pair(&self, i: usize, ms: u64) {
        let mut ids = Vec::new();
        for suffix in ["", "-b"] {
            let job = ledger_job(ms).unique(format!("u-{i}"), UniqueUntil::Finished);
            let id = self.enqueue(job, &format!("mix-{i}{suffix}")).await;
            self.want(id.clone(), Want::Succeeded, Tags::runs(4));
            ids.push((id, self.client.now()));
            tokio::time::sleep(Duration::from_millis(self.draw(0..3000))).await;
        }
        self.plan.lock().unwrap().uniques.push(ids);
    }

    /// Three creations under one debounce key (2 s, at most 6 s), a
    /// while apart: one job for those before it starts, with the last
    /// one's arguments.
    async fn debounced_burst(&self, i: usize, ms: u64) {
        let mut made = Vec::new();
        for n in 1..=3u64 {
            let job = job(json!({ "ms": ms, "n": n })).debounce(
                format!("d-{i}"),
                Duration::from_secs(2),
                Duration::from_secs(6),
            );
            let id = self.enqueue(job, &format!("mix-{i}-d{n}")).await;
            self.want(id.clone(), Want::Succeeded, Tags::runs(4));
            made.push((id, n));
            tokio::time::sleep(Duration::from_millis(self.draw(0..1500))).await;
        }
        self.plan.lock().unwrap().debounces.push(made);
    }

    /// Fails at once, without retries, carrying the doomed mark: the
    /// bulk delete at the end of the mix ([`Mix::delete_doomed`]) moves it
    /// from Failed to Deleted.
    async fn doomed(&self, i: usize, ms: u64) {
        let job = job(json!({ "ms": ms, "fail": true, "mark": DOOMED })).retries(0);
        let id = self.enqueue(job, &format!("mix-{i}")).await;
        self.plan.lock().unwrap().doomed.push(id.clone());
        self.want(id, Want::Deleted, Tags::runs(1));
    }

    async fn enqueued_a_while_ago(&self, i: usize, ms: std::ops::Range<u64>) -> JobId {
        let id = self
            .enqueue(ledger_job(self.draw(ms)), &format!("mix-{i}"))
            .await;
        tokio::time::sleep(Duration::from_millis(self.draw(0..4000))).await;
        id
    }
}

/// The job with the idempotency key `key`.
fn keyed(job: NewJob, key: &str) -> NewJob {
    job.idempotency_key(key).expect("a valid idempotency key")
}
