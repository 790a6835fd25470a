//! Hangar: Hangfire-style background jobs for Rust on AWS.
//!
//! DynamoDB holds every job's state and history, SQS delivers jobs to Lambda
//! workers, and a timer drives delayed jobs, retries and recurring jobs. See
//! docs/architecture.md for the design and its invariants.
//!
//! # Layout
//!
//! - [`job`]: ids, kinds, options, the stored record and its history.
//! - [`state`]: the state machine, one pure function.
//! - [`json`]: jobs and recurring jobs as JSON, for the CLI and the admin API.
//! - [`retry`]: Hangfire's automatic retry policy.
//! - [`timing`]: where a delayed job waits (SQS delay or the timer).
//! - [`store`]: the one owner of DynamoDB requests; every transition one
//!   conditional write.
//! - [`queue`]: the one owner of SQS requests: queues, wake-up sends, depths.
//! - [`message`]: the wake-up message format.
//! - [`client`]: the API for creating and acting on jobs.
//! - [`worker`]: the handler registry, batch processing, and the local poller.
//! - [`cron`]: cron expressions in IANA time zones.
//! - [`recurring`]: recurring jobs and the misfire policies.
//! - [`timer`]: the timer tick: hand-offs, recurring firings, repair.
//! - [`setup`]: idempotent creation of the table and queues.
//! - [`config`], [`clock`], [`error`]: configuration, injected time, errors.
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
pub mod error;
pub mod filter;
pub mod handler;
pub mod intake;
pub mod job;
pub mod json;
pub mod limits;
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
pub mod worker;

pub use batch::{Batch, BatchRecord, BatchStatus};
pub use client::Client;
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use config::Config;
pub use error::{Error, Result};
pub use handler::{HandlerResult, JobContext, JobFailure, Registry};
pub use job::{ContinueOn, HistoryEntry, Job, JobId, JobOptions, JobRecord, NewJob};
pub use metrics::Throughput;
pub use recurring::{LastStarted, Misfire, RecurringJob, RecurringOptions, RecurringStatus};
pub use retry::{OnExhausted, RetryPolicy};
pub use state::State;
pub use store::{Count, Cursor, ListQuery, Page, QueueControl};
pub use timer::{TickReport, Timer};
pub use timing::When;
pub use worker::{Delivery, Outcome, Poller, Worker};
