//! The mix: what jobs the soak creates, by the index of each in the run,
//! and what each must end as.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::{
    Batch, Client, ContinueOn, JobId, JobRecord, NewJob, RecurringOptions, RetryPolicy, State,
};
use serde_json::{Value, json};

/// The timeout of the soak's jobs.
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);
/// The limit of the concurrency key `soak-c`.
pub(super) const CONC_LIMIT: usize = 3;
/// The rate limit of `soak-r`: starts per window, and the window in ms.
pub(super) const RATE: (u32, u64) = (20, 1000);

/// What a job must end as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Want {
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
    pub(super) fn reached(self, j: &JobRecord) -> bool {
        match self {
            Want::Succeeded => j.state == State::Succeeded,
            Want::Failed => j.state == State::Failed,
            Want::Deleted => j.state == State::Deleted,
            Want::Awaiting => j.state == State::Awaiting,
            Want::RanOrDeleted => matches!(j.state, State::Succeeded | State::Deleted),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Tags {
    pub(super) conc: bool,
    pub(super) rate: bool,
    /// Runs allowed by its retry policy.
    pub(super) max_runs: u32,
    /// Must not have run at all.
    pub(super) never_runs: bool,
    /// Fired by the recurring job (created ahead of its time: no latency).
    pub(super) occurrence: bool,
}

impl Tags {
    fn runs(max_runs: u32) -> Self {
        Tags {
            max_runs,
            ..Tags::default()
        }
    }
}

#[derive(Default)]
pub(super) struct Plan {
    pub(super) want: HashMap<JobId, (Want, Tags)>,
    pub(super) batch_then: Option<JobId>,
    pub(super) batch_jobs: Vec<JobId>,
    pub(super) bad_bodies: usize,
    /// Jobs deleted or rescheduled after their creation, by the state they
    /// were in ("rescheduled refused while Processing": a running job
    /// cannot be rescheduled).
    pub(super) moved: BTreeMap<String, usize>,
    /// Missed occurrences of the recurring job its misfire policy skipped.
    pub(super) skipped: usize,
}

impl Plan {
    /// The `n` jobs of the batch `batch_id` and its continuation: each
    /// must succeed.
    fn add_batch(&mut self, batch_id: &JobId, n: u64) {
        for k in 1..=n {
            let id = JobId::parse(format!("{batch_id}.{k}")).unwrap();
            self.batch_jobs.push(id.clone());
            self.want.insert(id, (Want::Succeeded, Tags::runs(4)));
        }
        let then = JobId::parse(format!("{batch_id}.then1")).unwrap();
        self.want
            .insert(then.clone(), (Want::Succeeded, Tags::runs(4)));
        self.batch_then = Some(then);
    }

    /// An occurrence the recurring job fired: it must have run, or been
    /// deleted with the recurring job before it started.
    pub(super) fn add_occurrence(&mut self, id: JobId) {
        let tags = Tags {
            occurrence: true,
            ..Tags::runs(4)
        };
        self.want.insert(id, (Want::RanOrDeleted, tags));
    }
}

/// The name of the recurring job; its occurrences' ids start with it and
/// a colon.
pub(super) const RECURRING: &str = "soak-tick";

/// Whether a job is an occurrence of the recurring job.
pub(super) fn is_occurrence(job: &JobRecord) -> bool {
    job.id
        .as_str()
        .split_once(':')
        .is_some_and(|(name, _)| name == RECURRING)
}

/// A job sleeping `ms` milliseconds.
fn ledger_job(ms: u64) -> NewJob {
    job(json!({ "ms": ms }))
}

fn job(args: Value) -> NewJob {
    NewJob::new("ledger.run", args)
        .timeout(TIMEOUT)
        .retry(RetryPolicy {
            attempts: 3,
            delays_secs: vec![1],
            ..RetryPolicy::default()
        })
}

/// Creates the jobs of the mix and records in the plan what each must end
/// as.
#[derive(Clone)]
pub(super) struct Mix {
    pub(super) client: Client,
    /// The stack's default queue, for intake requests sent as any producer
    /// sends them.
    pub(super) raw: (aws_sdk_sqs::Client, String),
    pub(super) plan: Arc<Mutex<Plan>>,
}

impl Mix {
    /// Creates job `i` of the mix (its kind chosen by `i % 100`); a job
    /// for the batch is returned instead.
    pub(super) async fn create(self, i: usize) -> Option<NewJob> {
        let ms = rand::random_range(0..30);
        match i % 100 {
            0..40 => self.enqueued(ms).await,
            40..50 => self.delayed(ms).await,
            50..58 => self.failing_first(ms).await,
            58..62 => self.always_failing(ms).await,
            62..64 => self.timing_out().await,
            64..69 => self.continued_on_success(ms).await,
            69..71 => self.continued_after_failure(ms).await,
            71..74 => self.deleted_while_scheduled(ms).await,
            74..76 => self.rescheduled_while_scheduled(ms).await,
            76..81 => self.through_intake(i, ms).await,
            81..86 => self.under_concurrency_key().await,
            86..91 => self.rate_limited(ms).await,
            91..93 => self.deleted_a_while_after().await,
            93..95 => self.rescheduled_a_while_after().await,
            _ => return Some(ledger_job(ms)),
        }
        None
    }

    /// The recurring job: a short job every 2 s.
    pub(super) async fn add_recurring(&self) {
        self.client
            .recurring()
            .add_or_update(
                RECURRING,
                ledger_job(5),
                "*/2 * * * * *",
                RecurringOptions::default(),
            )
            .await
            .unwrap();
    }

    /// Starts the batch of the jobs `create` returned, with a continuation
    /// on its success.
    pub(super) async fn start_batch(&self, batch: Batch) -> JobId {
        let n = batch.len() as u64;
        let batch = batch
            .continue_with(ledger_job(5), ContinueOn::Succeeded)
            .unwrap();
        let batch_id = self.client.start_batch(batch).await.unwrap();
        self.plan.lock().unwrap().add_batch(&batch_id, n);
        batch_id
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

    async fn enqueue(&self, job: NewJob, w: Want, tags: Tags) {
        let id = self.client.enqueue(job).await.unwrap();
        self.want(id, w, tags);
    }

    async fn enqueued(&self, ms: u64) {
        self.enqueue(ledger_job(ms), Want::Succeeded, Tags::runs(4))
            .await;
    }

    /// Scheduled 1 to 20 s ahead.
    async fn delayed(&self, ms: u64) {
        let delay = Duration::from_secs(rand::random_range(1..20));
        let id = self.client.schedule(ledger_job(ms), delay).await.unwrap();
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// Fails its first one or two runs, then succeeds.
    async fn failing_first(&self, ms: u64) {
        let job = job(json!({"ms": ms, "fail_first": rand::random_range(1..3)}));
        self.enqueue(job, Want::Succeeded, Tags::runs(4)).await;
    }

    async fn always_failing(&self, ms: u64) {
        let job = job(json!({"ms": ms, "fail": true})).retry(RetryPolicy {
            attempts: 1,
            delays_secs: vec![1],
            ..RetryPolicy::default()
        });
        self.enqueue(job, Want::Failed, Tags::runs(2)).await;
    }

    /// Runs 3 s against a timeout of 1 s, without retries.
    async fn timing_out(&self) {
        let job = ledger_job(3_000).timeout(Duration::from_secs(1)).retries(0);
        self.enqueue(job, Want::Failed, Tags::runs(1)).await;
    }

    async fn continued_on_success(&self, ms: u64) {
        let parent = self.client.enqueue(ledger_job(ms)).await.unwrap();
        let child = self
            .client
            .continue_with(&parent, ledger_job(ms), ContinueOn::Succeeded)
            .await
            .unwrap();
        self.want(parent, Want::Succeeded, Tags::runs(4));
        self.want(child, Want::Succeeded, Tags::runs(4));
    }

    /// A continuation on any end of a parent that Fails: it must wait, and
    /// never run.
    async fn continued_after_failure(&self, ms: u64) {
        let parent = self
            .client
            .enqueue(job(json!({"ms": ms, "fail": true})).retries(0))
            .await
            .unwrap();
        let child = self
            .client
            .continue_with(&parent, ledger_job(ms), ContinueOn::AnyFinished)
            .await
            .unwrap();
        self.want(parent, Want::Failed, Tags::runs(1));
        self.want(child, Want::Awaiting, never_runs());
    }

    async fn deleted_while_scheduled(&self, ms: u64) {
        let id = self.scheduled_far_ahead(ms).await;
        self.client.delete(&id).await.unwrap();
        self.want(id, Want::Deleted, never_runs());
    }

    /// Rescheduled to 2 s from now.
    async fn rescheduled_while_scheduled(&self, ms: u64) {
        let id = self.scheduled_far_ahead(ms).await;
        self.client
            .reschedule(&id, Duration::from_secs(2))
            .await
            .unwrap();
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// A job scheduled 10 minutes ahead: it stays Scheduled for the rest
    /// of the run unless moved.
    async fn scheduled_far_ahead(&self, ms: u64) -> JobId {
        self.client
            .schedule(ledger_job(ms), Duration::from_secs(600))
            .await
            .unwrap()
    }

    /// An intake request with an idempotency key: one in five sent twice,
    /// one in five also created by the Rust client with the same key, and
    /// one in ten followed by a bad body.
    async fn through_intake(&self, i: usize, ms: u64) {
        let body = json!({"hangar_intake": 1, "kind": "ledger.run", "args": {"ms": ms},
                "idempotency_key": format!("soak-{i}"), "timeout_seconds": 5})
        .to_string();
        self.send_raw(&body).await;
        if i.is_multiple_of(5) {
            self.send_raw(&body).await;
        }
        // The Rust client's idempotent creation with the same key names
        // the same job, whichever of the two creates it.
        if i % 5 == 1 {
            let same = ledger_job(ms)
                .idempotency_key(&format!("soak-{i}"))
                .unwrap();
            let id = self.client.enqueue(same).await.unwrap();
            assert_eq!(id.as_str(), format!("idem-soak-{i}"), "one job per key");
        }
        if i.is_multiple_of(10) {
            self.send_raw(&format!(
                "{{\"hangar_intake\": 1, \"kind\": \"ledger.run\", \"retries\": \"x{i}\"}}"
            ))
            .await;
            self.plan.lock().unwrap().bad_bodies += 1;
        }
        // Retries 10, Hangfire's back-off: at most the policy's runs.
        self.want(
            JobId::parse(format!("idem-soak-{i}")).unwrap(),
            Want::Succeeded,
            Tags::runs(11),
        );
    }

    async fn send_raw(&self, body: &str) {
        self.raw
            .0
            .send_message()
            .queue_url(&self.raw.1)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    async fn under_concurrency_key(&self) {
        let job = ledger_job(100).concurrency("soak-c", CONC_LIMIT as u32);
        let tags = Tags {
            conc: true,
            ..Tags::runs(4)
        };
        self.enqueue(job, Want::Succeeded, tags).await;
    }

    async fn rate_limited(&self, ms: u64) {
        let job = ledger_job(ms).rate("soak-r", RATE.0, Duration::from_millis(RATE.1));
        let tags = Tags {
            rate: true,
            ..Tags::runs(4)
        };
        self.enqueue(job, Want::Succeeded, tags).await;
    }

    /// Deleted while queued or running (or just after it ran): it ends
    /// Deleted, and no run is claimed after the deletion.
    async fn deleted_a_while_after(&self) {
        let id = self.enqueued_a_while_ago(1000..3000).await;
        let job = self.client.delete(&id).await.unwrap();
        let was = job.history.iter().rev().nth(1).map(|h| h.state.to_string());
        self.moved(&format!("deleted while {}", was.unwrap_or_default()));
        self.want(id, Want::Deleted, Tags::runs(4));
    }

    /// Rescheduled while queued: it runs 2 s later and the message for its
    /// old time is dropped. Refused while it runs; run again if it had
    /// already finished.
    async fn rescheduled_a_while_after(&self) {
        let id = self.enqueued_a_while_ago(500..2000).await;
        let outcome = match self.client.reschedule(&id, Duration::from_secs(2)).await {
            Ok(due) => {
                // The state before the entry this reschedule wrote.
                let job = self
                    .client
                    .get(&id)
                    .await
                    .unwrap()
                    .expect("just rescheduled");
                let due = due.timestamp_millis().to_string();
                let at = job
                    .history
                    .iter()
                    .position(|h| h.data.get("due") == Some(&due))
                    .expect("the reschedule's entry");
                format!("while {}", job.history[at.saturating_sub(1)].state)
            }
            Err(hangar::Error::InvalidTransition { from, .. }) => {
                assert_eq!(from, State::Processing, "only a running job refuses");
                "refused while Processing".to_owned()
            }
            Err(e) => panic!("reschedule of {id}: {e}"),
        };
        self.moved(&format!("rescheduled {outcome}"));
        // Two runs of attempt 1 at most (before and after a reschedule of
        // the finished job), each with its retries.
        self.want(id, Want::Succeeded, Tags::runs(4));
    }

    /// A job of `ms` milliseconds (a random one of the range), enqueued
    /// 0-4 s ago: queued, running or done by now.
    async fn enqueued_a_while_ago(&self, ms: std::ops::Range<u64>) -> JobId {
        let id = self
            .client
            .enqueue(ledger_job(rand::random_range(ms)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..4000))).await;
        id
    }
}

/// A job that must not run at all.
fn never_runs() -> Tags {
    Tags {
        never_runs: true,
        ..Tags::runs(0)
    }
}
