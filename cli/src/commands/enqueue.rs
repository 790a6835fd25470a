//! `hangar enqueue`: one job, a continuation (`--after`), or many
//! (`--count`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use hangar::{Client, ContinueOn, JobId, NewJob, State, When};

use super::Error;
use super::common::{Format, created, job_id};
use crate::output::{self, Out};
use crate::parse;

#[derive(Args)]
pub struct EnqueueArgs {
    /// Job kind, as the worker registers it (e.g. hello).
    kind: String,
    /// Arguments as JSON.
    #[arg(long, default_value = "{}", value_parser = parse::json)]
    args: serde_json::Value,
    /// Queue.
    #[arg(long, default_value = "default")]
    queue: String,
    #[command(flatten)]
    when: OptionalWhen,
    /// Run after this job finishes (a continuation).
    #[arg(long, conflicts_with_all = ["delay", "at"])]
    after: Option<String>,
    /// With --after: run whatever the parent's final state, not only on success.
    #[arg(long, requires = "after")]
    on_any_finished: bool,
    /// Retries after the first failure (default: the job's policy, 10).
    #[arg(long)]
    retries: Option<u32>,
    /// How long one run may take (default 5m; at most 7d); a run still
    /// going then is stopped and counts as a failure.
    #[arg(long, value_parser = parse::duration)]
    timeout: Option<Duration>,
    /// Keep the job this long once Succeeded or Deleted (default: the
    /// stack's retention).
    #[arg(long, value_parser = parse::duration)]
    retention: Option<Duration>,
    /// Give up (Deleted, with the reason) if the job has not started this
    /// long after it was enqueued or became due, e.g. 30s, 5m.
    #[arg(long, value_parser = parse::duration)]
    start_within: Option<Duration>,
    /// At most N starts per PERIOD among the jobs naming KEY, across all
    /// workers: KEY=N/PERIOD, e.g. stripe=25/1s.
    #[arg(long, value_parser = parse::rate)]
    rate: Option<(String, u32, Duration)>,
    /// At most N runs at once among the jobs naming KEY, across all
    /// workers: KEY=N (KEY=1: one at a time).
    #[arg(long, value_parser = parse::concurrency)]
    concurrency: Option<(String, u32)>,
    /// Jobs naming KEY run one at a time, in the order they were created.
    #[arg(long, conflicts_with = "concurrency")]
    ordered: Option<String>,
    /// At most one pending job per KEY: while a job created with KEY waits
    /// to run (or, with --unique-until finished, until it ends), this
    /// prints that job instead of creating another.
    #[arg(long, conflicts_with_all = ["after", "count", "debounce"])]
    unique: Option<String>,
    /// With --unique: how long its job holds the key, started (default) or
    /// finished.
    #[arg(long, requires = "unique", value_parser = parse::unique_until)]
    unique_until: Option<hangar::UniqueUntil>,
    /// Run once a burst is over: KEY=WAIT/MAX_WAIT, e.g. sync-42=30s/5m.
    /// The job starts WAIT after the latest creation with KEY (which
    /// replaces its arguments), never later than MAX_WAIT after the first.
    #[arg(long, value_parser = parse::debounce, conflicts_with_all = ["after", "count", "delay", "at"])]
    debounce: Option<(String, Duration, Duration)>,
    /// A job parameter, NAME=VALUE (repeatable), shown with the job.
    #[arg(long = "param", value_parser = parse::param)]
    params: Vec<(String, String)>,
    /// A tag the job is found by, exact (repeatable, at most 5):
    /// `hangar jobs --tag customer:42`.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Create this many identical jobs (batch writes; prints every id).
    #[arg(long, conflicts_with = "after", value_parser = parse::count)]
    count: Option<usize>,
    #[command(flatten)]
    fmt: Format,
}

/// `--delay` or `--at`, or neither (`hangar reschedule` has its own pair,
/// where one is required).
#[derive(Args)]
#[group(required = false, multiple = false)]
struct OptionalWhen {
    /// Delay from now: 30s, 10m, 2h, 1d, 1h30m.
    #[arg(long, value_parser = parse::duration)]
    delay: Option<Duration>,
    /// Absolute time, RFC 3339 (2026-01-01T09:00:00Z).
    #[arg(long, value_parser = parse::time)]
    at: Option<DateTime<Utc>>,
}

impl OptionalWhen {
    fn when(&self) -> Option<When> {
        self.delay.map(When::In).or_else(|| self.at.map(When::At))
    }
}

impl EnqueueArgs {
    fn new_job(&self) -> NewJob {
        let mut job = NewJob::new(&self.kind, self.args.clone()).queue(&self.queue);
        if let Some(r) = self.retries {
            job = job.retries(r);
        }
        if let Some(t) = self.timeout {
            job = job.timeout(t);
        }
        if let Some(keep) = self.retention {
            job = job.retention(keep);
        }
        if let Some(latency) = self.start_within {
            job = job.start_within(latency);
        }
        if let Some((key, n, per)) = &self.rate {
            job = job.rate(key.clone(), *n, *per);
        }
        if let Some((key, n)) = &self.concurrency {
            job = job.concurrency(key.clone(), *n);
        }
        if let Some(key) = &self.ordered {
            job = job.ordered(key.clone());
        }
        for (name, value) in &self.params {
            job = job.param(name.clone(), value.clone());
        }
        for tag in &self.tags {
            job = job.tag(tag.clone());
        }
        if let Some(key) = &self.unique {
            job = job.unique(key.clone(), self.unique_until.unwrap_or_default());
        }
        if let Some((key, wait, max_wait)) = &self.debounce {
            job = job.debounce(key.clone(), *wait, *max_wait);
        }
        job
    }
}

pub async fn run(client: &Client, a: EnqueueArgs) -> Result<(), Error> {
    let parent = a.after.as_deref().map(job_id).transpose()?;
    let job = a.new_job();
    let when = a.when.when();
    let Some(count) = a.count else {
        let id = match (&parent, when) {
            (Some(parent), _) => {
                let on = if a.on_any_finished {
                    ContinueOn::AnyFinished
                } else {
                    ContinueOn::Succeeded
                };
                client.continue_with(parent, job, on).await?
            }
            (None, Some(when)) => client.schedule(job, when).await?,
            (None, None) => client.enqueue(job).await?,
        };
        return Ok(created(client, &id, a.fmt).await?);
    };
    // Ids are printed as they are created, or all at once with --json.
    let mut all = Vec::new();
    let bar = output::progress(
        Some(count as u64),
        if when.is_some() {
            "scheduling"
        } else {
            "enqueuing"
        },
    );
    let mut done = |ids: Vec<JobId>| {
        if !a.fmt.json {
            bar.suspend(|| {
                for id in &ids {
                    println!("{id}");
                }
            });
        }
        bar.inc(ids.len() as u64);
        all.extend(ids);
    };
    let result: hangar::Result<()> = async {
        if let Some(when) = when {
            for _ in 0..count {
                done(vec![client.schedule(job.clone(), when).await?]);
            }
        } else {
            // enqueue_many writes in batches of 25 and sends in batches of 10.
            for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
                done(
                    client
                        .enqueue_many(chunk.iter().map(|_| job.clone()))
                        .await?,
                );
            }
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    // Cut short: what was created is still told.
    if a.fmt.json && (result.is_ok() || !all.is_empty()) {
        let state = if when.is_some() {
            State::Scheduled
        } else {
            State::Enqueued
        };
        Out::json(&output::Created {
            state: state.to_string(),
            ids: all.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(result?)
}
