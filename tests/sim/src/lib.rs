//! Hangar in a deterministic simulation of AWS.
//!
//! The code under test is the real `hangar` crate, store and queue
//! included, under the real AWS SDK: the SDK's HTTP client, time source and
//! sleep are replaced (its own seams on the `SdkConfig`) by an in-process
//! network that answers with models of the APIs Hangar calls.
//!
//! - [`dynamodb`]: DynamoDB as its documentation describes it: items,
//!   expressions, conditional writes, transactions, batch calls, queries
//!   on a global secondary index applied after a lag, TTL, partition
//!   throughput limits, and billing in read and write units.
//! - [`sqs`]: SQS: at-least-once delivery, visibility timeouts, delays,
//!   batch calls, receive counts and redrive, attributes, approximate
//!   counts.
//!
//! - [`floor`]: what a call costs through the SDK against the model
//!   alone (`sim --sdk-floor N`).
//! - [`mix`]: the jobs the soak and the simulation create and what each
//!   must end as; [`promises`]: the checker both hold their runs to.
//!
//! Both models take a request as the SDK sends it (the operation and its JSON
//! body, AWS JSON 1.0 protocol) and answer as AWS does (a JSON body, or an
//! error with its code), at a time and with a random generator the caller
//! gives: the same calls in the same order give the same answers.

pub mod api;
pub mod bulk;
pub mod cost;
pub mod dynamodb;
pub mod features;
pub mod floor;
pub mod json;
pub mod lambda;
pub mod mix;
pub mod net;
pub mod pause;
pub mod plan;
pub mod promises;
pub mod run;
pub mod scale;
pub mod scheduler;
pub mod sdk;
pub mod sorted;
pub mod sqs;
pub mod stack;
pub mod tick;
pub mod time;
pub mod trace;
pub mod world;
