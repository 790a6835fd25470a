//! The error type of the public API.

use std::fmt;

use crate::job::id::JobId;
use crate::state::State;

/// A boxed error from a dependency; kept out of the public API's types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a Hangar call can fail with. Callers branch on the variant;
/// AWS errors keep their source for logging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such job (or it expired).
    #[error("job {id} not found (it never existed, or it ended and its retention passed)")]
    NotFound {
        /// The job asked for.
        id: JobId,
    },
    /// No such batch (or it expired).
    #[error("batch {id} not found (it never existed, or it completed and its retention passed)")]
    BatchNotFound {
        /// The batch asked for.
        id: JobId,
    },
    /// No such recurring job.
    #[error("recurring job {id} not found")]
    RecurringNotFound {
        /// The recurring job asked for.
        id: String,
    },
    /// The job exists but is in a state the operation cannot leave.
    #[error("job {id} is {from}; it cannot move to {to}{}", hint_for(*from, *to))]
    InvalidTransition {
        /// The job.
        id: JobId,
        /// Its current state.
        from: State,
        /// The state the operation wanted.
        to: State,
    },
    /// The job kept changing under the operation (another writer won each
    /// time); the operation can be retried.
    #[error("job {id} was changed concurrently; try again")]
    Conflict {
        /// The job.
        id: JobId,
    },
    /// A batch's creation took longer than the grace period: the timer
    /// took it as cut short and started the batch with the jobs written by
    /// then; the rest were not created.
    #[error(
        "batch {id}: its creation took longer than the grace period and was cut short after {written} jobs; the batch runs with those (create the rest as another batch)"
    )]
    BatchCutShort {
        /// The batch.
        id: JobId,
        /// Jobs it holds.
        written: u64,
    },
    /// A job with this id already exists.
    #[error("job {id} already exists")]
    AlreadyExists {
        /// The job.
        id: JobId,
    },
    /// The job's arguments are larger than a job item can hold.
    #[error(
        "job arguments are {size} bytes; the limit is {limit} bytes (store large payloads in S3 and pass a key)"
    )]
    PayloadTooLarge {
        /// Serialized size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// An argument was not valid: a queue or kind name, a job id, a delay.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid ("queue name", "job id", ...).
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A job's arguments could not be serialized or deserialized.
    #[error("job arguments for {kind}: {source}")]
    Args {
        kind: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored item could not be read as a job (written by something else,
    /// or by an incompatible version).
    #[error("stored item {key} is not a valid job: {message}")]
    Corrupt {
        /// The item's key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// A call to AWS failed.
    #[error("AWS {service} {operation} failed")]
    Aws {
        /// "DynamoDB" or "SQS".
        service: &'static str,
        /// The API operation.
        operation: &'static str,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
}

fn hint_for(from: State, to: State) -> &'static str {
    match (from, to) {
        (State::Processing, _) => " while it is running (delete it, or wait for it to finish)",
        (State::Awaiting, _) => {
            " while it waits for its parent (delete it, or requeue it to run now)"
        }
        _ => "",
    }
}

impl Error {
    /// An AWS call that failed, keeping the SDK error as the source.
    pub fn aws<E>(service: &'static str, operation: &'static str, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Aws {
            service,
            operation,
            source: Box::new(err),
        }
    }

    /// A job refused by a client filter ([`crate::filter::ClientFilter`]):
    /// an [`Error::Invalid`] saying why.
    pub fn refused(reason: impl fmt::Display) -> Self {
        Error::invalid("job (refused by a filter)", reason)
    }

    pub(crate) fn invalid(what: &'static str, message: impl fmt::Display) -> Self {
        Error::Invalid {
            what,
            message: message.to_string(),
        }
    }

    /// Whether retrying the same call may succeed (AWS errors and conflicts).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Aws { .. } | Error::Conflict { .. })
    }
}

/// Renders an error with its whole source chain on one line, for logs and
/// for job history.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
