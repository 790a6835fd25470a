//! The network between the SDK and the models: an HTTP client, plugged in
//! through the `SdkConfig`'s own seam, that decodes each request as AWS's
//! JSON 1.0 protocol carries it (`X-Amz-Target: <service>.<operation>`, a
//! JSON body), lets the world answer after a seeded latency, and encodes
//! the answer as AWS does (an error: its status and a body whose
//! `__type` names it). Faults come from the seed: a throttle or a 500
//! before the request reaches the model, or an answer lost after the
//! model applied it (the caller sees a 500 and the SDK retries).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use rand::Rng;
use serde_json::{Value, json};

use crate::json::Json;
use crate::time::VirtualClock;
use crate::world::SharedWorld;

/// How often each fault happens, per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// A throttling error before the model sees the request.
    pub throttle: f64,
    /// A 500 before the model sees the request.
    pub server_error: f64,
    /// The model applies the request, the caller gets a 500.
    pub lost_answer: f64,
    /// Latency of a request, ms: a seeded draw in this range.
    pub latency_ms: (u64, u64),
    /// Every SQS send fails before it reaches the queue: the network of a
    /// client that dies between its write and its send.
    pub sends_lost: bool,
}

impl Faults {
    /// No faults, a few milliseconds per request, as within a region.
    pub fn none() -> Self {
        Faults {
            throttle: 0.0,
            server_error: 0.0,
            lost_answer: 0.0,
            latency_ms: (2, 8),
            sends_lost: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Network {
    world: SharedWorld,
    clock: VirtualClock,
    faults: Faults,
    /// An operation whose next answers are lost, and how many more.
    losing: Option<(&'static str, Arc<AtomicUsize>)>,
}

impl Network {
    pub fn new(world: SharedWorld, clock: VirtualClock, faults: Faults) -> Self {
        Network {
            world,
            clock,
            faults,
            losing: None,
        }
    }

    /// The same network, losing the answers of the next `times` requests
    /// of the operation `op` (applied, the caller told 500): a focused
    /// test's fault.
    pub fn losing(self, op: &'static str, times: usize) -> Self {
        Network {
            losing: Some((op, Arc::new(AtomicUsize::new(times)))),
            ..self
        }
    }

    async fn exchange(self, request: HttpRequest) -> HttpResponse {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = request
            .body()
            .bytes()
            .and_then(|b| Json::parse(b).ok())
            .unwrap_or(Json::Null);
        let (service, op) = target.split_once('.').unwrap_or((target.as_str(), ""));
        let (latency, fault) = {
            let mut world = self.world.lock().expect("one thread");
            let rng = &mut world.rng;
            let latency = rng.random_range(self.faults.latency_ms.0..=self.faults.latency_ms.1);
            let draw: f64 = rng.random();
            let fault = if draw < self.faults.throttle {
                Some(Fault::Throttle)
            } else if draw < self.faults.throttle + self.faults.server_error {
                Some(Fault::ServerError)
            } else if draw
                < self.faults.throttle + self.faults.server_error + self.faults.lost_answer
            {
                Some(Fault::LostAnswer)
            } else {
                None
            };
            (latency, fault)
        };
        // Half the latency on the way there, half on the way back.
        tokio::time::sleep(Duration::from_millis(latency / 2)).await;
        let now_ms = self.clock.now_ms();
        let lose = self.losing.as_ref().is_some_and(|(lost, left)| {
            *lost == op
                && left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
        });
        let fault =
            if self.faults.sends_lost && service == "AmazonSQS" && op.starts_with("SendMessage") {
                Some(Fault::ServerError)
            } else if lose {
                Some(Fault::LostAnswer)
            } else {
                fault
            };
        let answer = match fault {
            Some(Fault::Throttle) => {
                let mut world = self.world.lock().expect("one thread");
                world
                    .trace
                    .note(format!("{now_ms} fault throttle {service}.{op}"));
                Err(throttle(service))
            }
            Some(Fault::ServerError) => {
                let mut world = self.world.lock().expect("one thread");
                world
                    .trace
                    .note(format!("{now_ms} fault 500 {service}.{op}"));
                Err(server_error())
            }
            Some(Fault::LostAnswer) => {
                let mut world = self.world.lock().expect("one thread");
                let _applied = world.call(service, op, body, now_ms);
                world
                    .trace
                    .note(format!("{now_ms} fault lost answer {service}.{op}"));
                Err(server_error())
            }
            None => self
                .world
                .lock()
                .expect("one thread")
                .call(service, op, body, now_ms),
        };
        tokio::time::sleep(Duration::from_millis(latency - latency / 2)).await;
        encode(service, answer)
    }
}

enum Fault {
    Throttle,
    ServerError,
    LostAnswer,
}

fn throttle(service: &str) -> crate::api::ApiError {
    let code = if service == "AmazonSQS" {
        "RequestThrottled"
    } else {
        "ThrottlingException"
    };
    crate::api::ApiError::client(code, "Rate exceeded")
}

fn server_error() -> crate::api::ApiError {
    crate::api::ApiError {
        status: 500,
        code: "InternalServerError".to_owned(),
        message: "Internal server error".to_owned(),
        fields: Default::default(),
    }
}

/// An answer as AWS's JSON 1.0 protocol sends it.
fn encode(service: &str, answer: crate::world::Reply) -> HttpResponse {
    let (status, body, query_error) = match answer {
        Ok(text) => (200, text, None),
        Err(e) => {
            let namespace = if service == "AmazonSQS" {
                "com.amazonaws.sqs"
            } else {
                "com.amazonaws.dynamodb.v20120810"
            };
            let mut body = e.fields.clone();
            body.insert("__type".into(), json!(format!("{namespace}#{}", e.code)));
            body.insert("message".into(), json!(e.message));
            let query_error = crate::sqs::query_error_header(&e.code, e.status);
            (e.status, Value::Object(body).to_string(), Some(query_error))
        }
    };
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    let headers = response.headers_mut();
    headers.insert("content-type", "application/x-amz-json-1.0");
    headers.insert("x-amzn-requestid", "sim");
    if let (Some(q), "AmazonSQS") = (query_error, service) {
        headers.insert("x-amzn-query-error", q);
    }
    response
}

impl HttpConnector for Network {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(Box::pin({
            let this = self.clone();
            async move { Ok(this.exchange(request).await) }
        }))
    }
}

impl HttpClient for Network {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The simulated network's one address.
pub const ENDPOINT: &str = "http://aws.sim";

/// An SDK configuration whose requests go to the simulated network and
/// whose time is the virtual clock.
pub fn sdk_config(network: Network, clock: VirtualClock) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("sim", "sim", None, None, "sim"),
        ))
        .endpoint_url(ENDPOINT)
        .http_client(network)
        .time_source(clock)
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        // A stalled stream is a property of real sockets: the model's
        // answers arrive whole, so the SDK's throughput watch has nothing
        // to see.
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .build()
}
