//! The client API: create jobs and act on them.
//!
//! - [`create`](self): enqueue, schedule, continuations, many at once.
//! - `batches`: batches of jobs and their continuations.
//! - `read`: jobs by id, listings, counts, throughput, keys.
//! - `act`: requeue, reschedule, delete, one or many.
//! - `bulk`: requeue or delete every job a filter lists ([`Client::bulk`]).
//! - `queues`: pause and resume a queue.
//! - `recurring`: recurring jobs ([`Client::recurring`]).

mod act;
mod batches;
mod bulk;
mod create;
mod keys;
mod queues;
mod read;
mod recurring;
#[cfg(feature = "testing")]
mod testing;

use std::sync::Arc;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, retry_config};
use crate::core::Core;
use crate::error::Result;
use crate::job::{HistoryEntry, JobId, JobRecord, NewJob};
use crate::queue::Queues;
use crate::store::Store;

pub use bulk::{BulkAction, BulkProgress, BulkRun, BulkStep, MAX_STEP};
pub use recurring::Recurring;
#[cfg(feature = "testing")]
pub use testing::finished_record;

/// Creates jobs and acts on them. Cheap to clone; build one per process.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) core: Arc<Core>,
    /// Run before each job is created (see [`crate::filter`]).
    filters: Arc<Vec<Arc<dyn crate::filter::ClientFilter>>>,
}

impl std::fmt::Debug for dyn crate::filter::ClientFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientFilter")
    }
}

impl Client {
    /// A client from the AWS environment (credentials, region,
    /// `AWS_ENDPOINT_URL`) and the Hangar environment ([`Config::from_env`]).
    pub async fn from_env() -> Result<Self> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(&sdk, Config::from_env()?))
    }

    /// A client from an SDK configuration.
    ///
    /// Its SDK clients retry as [`retry_config`] says: throttled or failed
    /// requests wait and are made again, rather than failing a job.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Self {
        Self::from_clients(
            crate::store::client_for(sdk, retry_config()),
            crate::queue::client_for(sdk, retry_config()),
            config,
            Arc::new(SystemClock),
        )
    }

    /// A client from SDK clients and a clock.
    pub fn from_clients(
        ddb: crate::store::DynamoDbClient,
        sqs: crate::queue::SqsClient,
        config: Config,
        clock: SharedClock,
    ) -> Self {
        let config = Arc::new(config);
        Client {
            filters: Arc::default(),
            core: Arc::new(Core {
                store: Store::new(ddb, &config.table, config.shards, config.retention)
                    .with_grace(config.grace),
                queues: Queues::new(sqs, config.clone()),
                clock,
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The stack's SQS queues.
    pub fn queues(&self) -> &Queues {
        &self.core.queues
    }

    pub fn clock(&self) -> &SharedClock {
        &self.core.clock
    }

    /// A client that runs `filter` before each job it creates, after the
    /// filters registered before it (see [`crate::filter::ClientFilter`]).
    pub fn with_filter(mut self, filter: impl crate::filter::ClientFilter) -> Self {
        Arc::make_mut(&mut self.filters).push(Arc::new(filter));
        self
    }

    pub(crate) fn from_core(core: Arc<Core>) -> Self {
        Client {
            core,
            filters: Arc::default(),
        }
    }

    pub(crate) fn record(&self, mut job: NewJob, entry: HistoryEntry) -> Result<JobRecord> {
        for filter in self.filters.iter() {
            filter.on_create(&mut job)?;
        }
        job.validate()?;
        let mut entry = match &job.origin {
            Some(origin) => entry.with("origin", origin.as_str()),
            None => entry,
        };
        if let Some(u) = &job.unique {
            entry = entry.with("unique", u.key.as_str());
        }
        if let Some(d) = &job.debounce {
            entry = entry.with("debounce", d.key.as_str());
        }
        let mut record = JobRecord::new(
            job.id.unwrap_or_else(JobId::generate),
            job.kind,
            job.args,
            job.options,
            entry,
        );
        record.params = job.params;
        record.tags = job.tags;
        record.trace = job.trace.or_else(crate::tracecontext::TraceParent::current);
        Ok(record)
    }
}

/// How a job's creation treats a taken id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Creation {
    /// The caller chose the id.
    own_id: bool,
    /// A taken id is the job asked for, not an error.
    idempotent: bool,
}

impl Creation {
    pub(crate) fn of(job: &NewJob) -> Self {
        Creation {
            own_id: job.id.is_some(),
            idempotent: job.idempotent,
        }
    }
}
