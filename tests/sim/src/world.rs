//! The simulated AWS: the modelled services, the seeded generator they
//! share and the trace of every call, behind one lock (the simulation runs
//! on one thread; the lock is for the SDK's `Send + Sync` bounds).

use std::sync::{Arc, Mutex};

use crate::json::Json;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Notify;

/// A call's answer as it goes back: the JSON text, or the error.
pub use crate::api::Reply;
use crate::api::{ApiError, reply};
use crate::dynamodb::DynamoDb;
use crate::sqs::Sqs;
use crate::trace::Trace;

/// The `X-Amz-Target` prefix of DynamoDB's operations.
pub const DYNAMODB: &str = "DynamoDB_20120810";
/// The `X-Amz-Target` prefix of SQS's operations.
pub const SQS: &str = "AmazonSQS";

pub struct World {
    pub dynamodb: DynamoDb,
    pub sqs: Sqs,
    pub rng: StdRng,
    pub trace: Trace,
    /// Woken by every send, so that a long poll returns when a message
    /// arrives rather than at its next look: one waiting poll a send, as
    /// SQS hands a message to one of the receives waiting for it.
    pub sent: Arc<Notify>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("trace", &self.trace.lines())
            .finish()
    }
}

pub type SharedWorld = Arc<Mutex<World>>;

impl World {
    pub fn new(seed: u64, dynamodb: DynamoDb, sqs: Sqs) -> Self {
        World {
            dynamodb,
            sqs,
            rng: StdRng::seed_from_u64(seed),
            trace: Trace::default(),
            sent: Arc::new(Notify::new()),
        }
    }

    /// One request to the service `target`, recorded in the trace; a
    /// success's answer as the JSON text sent back.
    pub fn call(&mut self, target: &str, op: &str, body: Json, now_ms: i64) -> Reply {
        let reply = match target {
            DYNAMODB => self.dynamodb.handle(op, &body, now_ms, &mut self.rng),
            SQS => {
                let answer = self.sqs.handle(op, &body, now_ms, &mut self.rng);
                if answer.is_ok() && op.starts_with("SendMessage") {
                    self.sent.notify_one();
                }
                reply(answer)
            }
            _ => Err(ApiError::client(
                "UnknownOperationException",
                format!("no modelled service {target}"),
            )),
        };
        let outcome = match &reply {
            Ok(text) => std::borrow::Cow::Borrowed(text.as_str()),
            Err(e) => std::borrow::Cow::Owned(format!("{} {}", e.code, e.message)),
        };
        self.trace.record(now_ms, target, op, body, &outcome);
        reply
    }
}
