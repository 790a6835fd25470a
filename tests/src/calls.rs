//! Counting the AWS calls made through a test stack's SDK clients.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Counts AWS calls by operation name, e.g. `PutItem` or `SendMessage`.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// Forgets what was counted so far ([`crate::TestEnv::with`] does once
    /// the stack is made, so that its set-up is not counted).
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
    /// Calls per operation since the last reset.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for op in self.0.lock().unwrap().iter() {
            *out.entry(op.clone()).or_default() += 1;
        }
        out
    }
    /// Calls of one operation since the last reset.
    pub fn count(&self, op: &str) -> usize {
        self.counts().get(op).copied().unwrap_or(0)
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CallCounter"
    }
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.lock().unwrap().push(operation(cfg).to_owned());
        Ok(())
    }
}

/// The name of the operation a request belongs to, e.g. `UpdateItem`.
pub(crate) fn operation(cfg: &ConfigBag) -> &str {
    cfg.load::<Metadata>().map(|m| m.name()).unwrap_or_default()
}
