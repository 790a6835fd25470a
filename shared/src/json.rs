//! Jobs and recurring jobs as JSON, with stable field names: what the
//! `hangar` command prints with `--json` and what the admin API returns
//! (documented in docs/cli.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::JobRecord;
use crate::recurring::RecurringJob;

/// A job as JSON: `hangar job --json`, each element of `hangar jobs
/// --json`, and the admin API's job (field names are stable; docs/cli.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobJson {
    pub id: String,
    pub kind: String,
    pub queue: String,
    /// Its state (`Enqueued`, `Failed`, ...).
    pub state: String,
    /// Its version (+1 on every state change).
    pub version: u64,
    /// Runs so far.
    pub attempt: u32,
    /// Its arguments.
    pub args: serde_json::Value,
    /// How long one run may take, seconds.
    pub timeout_seconds: u64,
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When a Scheduled job is due.
    pub run_at: Option<DateTime<Utc>>,
    /// When a final job expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The job a continuation waits for.
    pub parent: Option<String>,
    /// Jobs waiting on this one.
    pub continuations: Vec<String>,
    /// The last failure message.
    pub last_error: Option<String>,
    /// Parameters (omitted when none).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params: crate::job::Params,
    /// Tags (omitted when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The W3C trace context it was created in (omitted when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// What its last successful run returned (omitted when nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// How far its run got, as its handler reported (omitted when not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::job::Progress>,
    /// Parked since (its queue is paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_at: Option<DateTime<Utc>>,
    /// Its place in its ordering key's sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The concurrency key whose slot it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The batch it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Its parent is a batch (a batch continuation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parent_is_batch: bool,
    /// State changes, oldest first.
    pub history: Vec<HistoryJson>,
}

/// One history entry as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryJson {
    /// The state entered.
    pub state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub reason: Option<String>,
    /// Details: `error_type`, `error_message`, `error_detail`, `worker`, `duration_ms`, ...
    pub data: BTreeMap<String, String>,
}

impl From<&JobRecord> for JobJson {
    fn from(j: &JobRecord) -> Self {
        JobJson {
            id: j.id.to_string(),
            kind: j.kind.clone(),
            queue: j.options.queue.clone(),
            state: j.state.to_string(),
            version: j.version,
            attempt: j.attempt,
            args: j.args.clone(),
            timeout_seconds: j.options.timeout.as_secs(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            run_at: j.run_at,
            expires_at: j.expires_at,
            parent: j.parent.as_ref().map(|p| p.id.to_string()),
            continuations: j.continuations.iter().map(|c| c.id.to_string()).collect(),
            last_error: j.last_error.clone(),
            params: j.params.clone(),
            tags: j.tags.clone(),
            traceparent: j.trace.as_ref().map(|t| t.to_string()),
            result: j.result.clone(),
            progress: j.progress.clone(),
            parked_at: j.parked_at,
            waiting_for: j.waiting_for.clone(),
            sequence: j.sequence,
            batch: j.batch.as_ref().map(ToString::to_string),
            parent_is_batch: j.parent.as_ref().is_some_and(|p| p.batch),
            history: j
                .history
                .iter()
                .map(|h| HistoryJson {
                    state: h.state.to_string(),
                    at: h.at,
                    reason: h.reason.clone(),
                    data: h.data.clone(),
                })
                .collect(),
        }
    }
}

/// A batch as JSON: `hangar batch show --json` and the admin API's batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchJson {
    /// The batch id; its jobs are `<id>.1` to `<id>.<total>`.
    pub id: String,
    /// What it is for.
    pub description: Option<String>,
    /// `Creating`, `Started` or `Completed`.
    pub status: String,
    /// Jobs in it.
    pub total: u64,
    /// Jobs not yet run to an end.
    pub pending: u64,
    /// Jobs in Succeeded.
    pub succeeded: u64,
    /// Jobs in Failed (waiting for a requeue or a delete).
    pub failed: u64,
    /// Jobs in Deleted.
    pub deleted: u64,
    pub created_at: DateTime<Utc>,
    /// When its last open job finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether every job had Succeeded when it completed.
    pub all_succeeded: Option<bool>,
    /// Its continuations: id and `succeeded` or `any_finished`.
    pub continuations: Vec<BatchContinuationJson>,
    /// When the item expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A batch continuation as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchContinuationJson {
    /// The continuation's job id.
    pub id: String,
    /// `succeeded` or `any_finished`.
    pub on: String,
}

impl From<&crate::batch::BatchRecord> for BatchJson {
    fn from(b: &crate::batch::BatchRecord) -> Self {
        BatchJson {
            id: b.id.to_string(),
            description: b.description.clone(),
            status: b.status.to_string(),
            total: b.total,
            pending: b.pending(),
            succeeded: b.succeeded,
            failed: b.failed,
            deleted: b.deleted,
            created_at: b.created_at,
            completed_at: b.completed_at,
            all_succeeded: b.all_succeeded,
            continuations: b
                .continuations
                .iter()
                .map(|c| BatchContinuationJson {
                    id: c.id.to_string(),
                    on: match c.on {
                        crate::job::ContinueOn::Succeeded => "succeeded",
                        crate::job::ContinueOn::AnyFinished => "any_finished",
                    }
                    .to_owned(),
                })
                .collect(),
            expires_at: b.expires_at,
        }
    }
}

/// A recurring job as JSON: each element of `hangar recurring list
/// --json`, and the admin API's recurring job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecurringJson {
    pub id: String,
    /// Kind of the jobs it creates.
    pub kind: String,
    /// Their queue.
    pub queue: String,
    /// The cron expression.
    pub cron: String,
    /// Its IANA time zone.
    pub tz: String,
    /// Misfire policy, lower case.
    pub misfire: String,
    /// Whether it fires.
    pub enabled: bool,
    /// The next occurrence not yet fired.
    pub next_run: Option<DateTime<Utc>>,
    /// The last occurrence fired.
    pub last_run: Option<DateTime<Utc>>,
    /// The job created last.
    pub last_job_id: Option<String>,
    /// Why the last firing failed, if it did.
    pub last_error: Option<String>,
}

impl From<&RecurringJob> for RecurringJson {
    fn from(r: &RecurringJob) -> Self {
        RecurringJson {
            id: r.id.clone(),
            kind: r.kind.clone(),
            queue: r.options.queue.clone(),
            cron: r.cron.clone(),
            tz: r.tz.clone(),
            misfire: format!("{:?}", r.misfire).to_ascii_lowercase(),
            enabled: r.enabled,
            next_run: r.next_run,
            last_run: r.last_run,
            last_job_id: r.last_job_id.as_ref().map(ToString::to_string),
            last_error: r.last_error.clone(),
        }
    }
}

/// Jobs per state and messages per queue: `hangar stats --json` and the
/// admin API's stats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatsJson {
    /// Jobs per state (lower-case state names).
    pub states: BTreeMap<String, u64>,
    /// States whose count is an estimate (see docs/cli.md).
    pub estimated: Vec<String>,
    /// Messages per SQS queue of the stack, dead-letter queues included.
    pub queues: Vec<crate::queue::QueueDepth>,
}

impl StatsJson {
    /// Counts the jobs and reads the queue depths.
    pub async fn collect(client: &crate::client::Client) -> crate::error::Result<StatsJson> {
        let queues = client.queue_depths().await?;
        let mut states = BTreeMap::new();
        let mut estimated = Vec::new();
        for (state, count) in client.counts_with(Some(&queues)).await? {
            let key = state.as_str().to_ascii_lowercase();
            if !count.exact {
                estimated.push(key.clone());
            }
            states.insert(key, count.n);
        }
        Ok(StatsJson {
            states,
            estimated,
            queues,
        })
    }
}
