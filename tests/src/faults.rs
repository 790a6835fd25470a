//! Faults injected into the AWS calls of a test stack's SDK clients, in
//! the test's own process (the proxy in `proxy` injects them on the
//! network, for other processes too).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

use crate::calls::operation;

/// Makes chosen AWS calls fail, as a network error, a crashed process or a
/// busy DynamoDB item would. A rule names an operation and a text its
/// request body must contain.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Rule>>>);

#[derive(Debug)]
struct Rule {
    operation: String,
    text: String,
    /// None: fail before sending, every time. Some(n): the next n matching
    /// DynamoDB writes are answered as if a transaction held the item.
    conflicts: Option<u32>,
}

/// Marks a request the injector turned into a transaction conflict.
#[derive(Debug, Clone)]
struct Conflicted;

impl aws_smithy_types::config_bag::Storable for Conflicted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Faults {
    /// Fails every `operation` call whose request body contains `text`
    /// before it is sent.
    pub fn fail(&self, operation: &str, text: &str) {
        self.0.lock().unwrap().push(Rule {
            operation: operation.to_owned(),
            text: text.to_owned(),
            conflicts: None,
        });
    }

    /// Answers the next `times` DynamoDB `operation` calls (`UpdateItem`,
    /// `PutItem` or `TransactWriteItems`) whose body contains `text` as
    /// DynamoDB does while a transaction holds the item: the write is not
    /// made (the request is sent to a table that does not exist) and the
    /// answer is `TransactionConflictException`, or for a transaction
    /// `TransactionCanceledException` with reason `TransactionConflict`.
    pub fn conflict(&self, operation: &str, text: &str, times: u32) {
        self.0.lock().unwrap().push(Rule {
            operation: operation.to_owned(),
            text: text.to_owned(),
            conflicts: Some(times),
        });
    }

    /// Lets every call through again.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Whether a rule of the kind asked for matches this request (a
    /// conflict rule then counts it).
    fn matching(&self, cfg: &ConfigBag, request: &HttpRequest, conflicts: bool) -> bool {
        let mut rules = self.0.lock().unwrap();
        if rules.is_empty() {
            return false;
        }
        let op = operation(cfg);
        let body = request
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let rule = rules.iter_mut().find(|r| {
            r.operation == op
                && r.conflicts.is_some() == conflicts
                && r.conflicts != Some(0)
                && body.contains(r.text.as_str())
        });
        match rule {
            Some(r) => {
                if let Some(n) = r.conflicts.as_mut() {
                    *n -= 1;
                }
                true
            }
            None => false,
        }
    }
}

/// Points every `TableName` in a DynamoDB request body at a table that does
/// not exist.
fn redirect_tables(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if k == "TableName" {
                    *v = serde_json::Value::String("hangar-injected-conflict".into());
                } else {
                    redirect_tables(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redirect_tables),
        _ => {}
    }
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if !self.matching(cfg, ctx.request(), true) {
            return Ok(());
        }
        let body = ctx.request().body().bytes().unwrap_or_default();
        let mut json: serde_json::Value = serde_json::from_slice(body)?;
        redirect_tables(&mut json);
        let bytes = serde_json::to_vec(&json)?;
        let request = ctx.request_mut();
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = aws_smithy_types::body::SdkBody::from(bytes);
        cfg.interceptor_state().store_put(Conflicted);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if self.matching(cfg, ctx.request(), false) {
            return Err(format!("injected fault: {}", operation(cfg)).into());
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if cfg.load::<Conflicted>().is_none() {
            return Ok(());
        }
        cfg.interceptor_state().unset::<Conflicted>();
        let body = if operation(cfg) == "TransactWriteItems" {
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
                "CancellationReasons": [
                    {"Code": "None"},
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                ]
            })
        } else {
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "message": "Transaction is ongoing for the item"
            })
        };
        let mut response = aws_smithy_runtime_api::http::Response::new(
            400.try_into().expect("status"),
            aws_smithy_types::body::SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *ctx.response_mut() = response;
        Ok(())
    }
}
