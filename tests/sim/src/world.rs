//! The simulated AWS: the modelled services, the seeded generator they
//! share, the faults to inject and the trace of every call, behind one
//! lock (the simulation runs on one thread; the lock is for the SDK's
//! `Send + Sync` bounds).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::api::Answer;
use crate::trace::Trace;

/// A modelled AWS API.
pub trait Service: Send {
    /// Answers one request (`op` and its JSON body) at `now_ms`.
    fn handle(&mut self, op: &str, body: &Value, now_ms: i64, rng: &mut StdRng) -> Answer;
}

/// The services by the name their requests carry in `X-Amz-Target`
/// (`DynamoDB_20120810`, `AmazonSQS`).
pub struct World {
    pub services: BTreeMap<String, Box<dyn Service>>,
    pub rng: StdRng,
    pub trace: Trace,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("trace", &self.trace.lines())
            .finish()
    }
}

pub type SharedWorld = Arc<Mutex<World>>;

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            services: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
            trace: Trace::default(),
        }
    }

    pub fn with(mut self, target: &str, service: impl Service + 'static) -> Self {
        self.services.insert(target.to_owned(), Box::new(service));
        self
    }

    /// One request to the service `target`, recorded in the trace.
    pub fn call(&mut self, target: &str, op: &str, body: &Value, now_ms: i64) -> Answer {
        let answer = match self.services.get_mut(target) {
            Some(service) => service.handle(op, body, now_ms, &mut self.rng),
            None => Err(crate::api::ApiError::client(
                "UnknownOperationException",
                format!("no modelled service {target}"),
            )),
        };
        self.trace.record(now_ms, target, op, body, &answer);
        answer
    }
}
