//! Hangar: Hangfire-style background jobs for Rust on AWS.
//!
//! DynamoDB holds every job's state and history, SQS delivers jobs to Lambda
//! workers, and a timer drives delayed jobs, retries and recurring jobs. See
//! docs/architecture.md for the design and its invariants.
//!
//! # Layout
//!
//! From the bottom up: a module imports only the modules listed before it
//! (files of one folder may import each other), which
//! `shared/tests/layering.rs` holds, file by file. Two files are read
//! from below their folder's place: the job id (`job/id.rs`, which
//! imports nothing) by [`error`], and a key's state
//! ([`limits::SlotState`], in `limits/mod.rs`, which imports no store) by
//! the store that reads it.
//!
//! - [`state`] (the state machine, one pure function), [`error`],
//!   [`clock`], [`timing`] (when a delayed job goes to SQS, [`When`]),
//!   [`retry`], [`cron`], [`emf`] (CloudWatch metric lines), [`entropy`]
//!   (randomness and the time of new ids, seedable for a simulation).
//! - [`job`]: ids and names and their rules, options ([`NewJob`]), unique
//!   and debounce keys, the stored record and its history; then [`config`].
//! - [`message`] (the wake-up format), [`batch`], [`recurring`] (schedules
//!   and misfire policies), [`metrics`] (finished jobs over time),
//!   [`workers`] (who ran what lately, from the runs' history),
//!   [`intake`] (job requests from outside Rust, and their envelopes).
//! - [`queue`]: the one owner of SQS requests; [`store`]: the one owner of
//!   DynamoDB requests; `logs` (feature `logs`): the one owner of
//!   CloudWatch Logs requests, a run's log lines read and shipped.
//! - `core`: what the client, worker and timer share: the one path from a
//!   write to its wake-up, and releasing continuations.
//! - [`limits`]: rate limits, concurrency keys and ordering, decided.
//! - [`handler`]: the job author's API; [`filter`]: hooks around creation
//!   and runs; [`client`]: creating jobs and acting on them.
//! - [`worker`]: delivery, claim, run and result, paused queues, job
//!   requests, the local poller; [`timer`]: the tick.
//! - [`json`], [`setup`], [`run`]: JSON views, creating the table and
//!   queues, the Lambda and local entry points.
//!
//! # Example
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SendEmail { to: String }
//! impl hangar::Job for SendEmail { const KIND: &'static str = "send_email"; }
//!
//! # async fn demo() -> hangar::Result<()> {
//! let client = hangar::Client::from_env().await?;
//! let id = client.enqueue(&SendEmail { to: "a@example.com".into() }).await?;
//! let later = client
//!     .schedule(&SendEmail { to: "b@example.com".into() }, std::time::Duration::from_secs(3600))
//!     .await?;
//! client
//!     .continue_with(&id, &SendEmail { to: "c@example.com".into() }, hangar::ContinueOn::Succeeded)
//!     .await?;
//! # let _ = later; Ok(()) }
//! ```

pub mod batch;
pub mod client;
pub mod clock;
pub mod config;
mod core;
pub mod cron;
pub mod emf;
pub mod entropy;
pub mod error;
pub mod filter;
pub mod handler;
pub mod intake;
pub mod job;
pub mod json;
pub mod limits;
#[cfg(feature = "logs")]
pub mod logs;
pub mod message;
pub mod metrics;
pub mod queue;
pub mod recurring;
pub mod retry;
pub mod run;
pub mod setup;
pub mod state;
pub mod store;
pub mod timer;
pub mod timing;
pub mod tracecontext;
pub mod worker;
pub mod workers;

pub use batch::{Batch, BatchRecord, BatchStatus};
pub use client::{BulkAction, BulkProgress, BulkStep, Client};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use config::Config;
pub use error::{Error, Result};
pub use handler::{HandlerResult, JobContext, JobFailure, Registry};
pub use job::{ContinueOn, HistoryEntry, Job, JobId, JobOptions, JobRecord, NewJob, UniqueUntil};
pub use metrics::Throughput;
pub use recurring::{LastStarted, Misfire, RecurringJob, RecurringOptions, RecurringStatus};
pub use retry::{OnExhausted, RetryPolicy};
pub use state::State;
pub use store::{Count, Cursor, ListQuery, Page, QueueControl};
pub use timer::{TickReport, Timer};
pub use timing::When;
pub use tracecontext::TraceParent;
pub use worker::{Delivery, Outcome, Poller, Worker};
