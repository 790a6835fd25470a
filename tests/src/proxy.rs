//! A fault-injecting HTTP proxy between AWS SDK clients and the emulator,
//! on 127.0.0.1: separate worker and timer processes pointed at it (their
//! `AWS_ENDPOINT_URL`) get faults too, not only the test's own clients.
//!
//! Each request is read whole; its service and operation come from the
//! `X-Amz-Target` header (`DynamoDB_20120810.UpdateItem`,
//! `AmazonSQS.SendMessage`). The first rule that matches and wins its roll
//! decides what happens:
//!
//! - `throttle`: answered at once as AWS throttles (400,
//!   `ProvisionedThroughputExceededException` for DynamoDB,
//!   `ThrottlingException` for SQS); nothing reaches the emulator;
//! - `error`: answered 500 (`InternalServerError`); nothing reaches it;
//! - `latency`: forwarded after `ms` milliseconds;
//! - `drop`: forwarded, and the response thrown away with the connection:
//!   the write happened, the caller sees a broken connection (and its SDK
//!   sends the request again);
//! - `duplicate`: forwarded twice (an SQS send delivered twice), the first
//!   answer returned.
//!
//! Every injected fault is counted by `fault service operation`. The rules
//! and the counts can also be read and set over HTTP: `GET /__faults`,
//! `POST /__rules` (a JSON list of rules).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};

/// What a rule does to the requests it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum Fault {
    /// Answer as AWS throttles.
    Throttle,
    /// Answer 500.
    Error,
    /// Wait, then forward.
    Latency {
        /// The wait, in milliseconds.
        ms: u64,
    },
    /// Forward, then break the connection instead of answering.
    Drop,
    /// Forward twice.
    Duplicate,
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Error => "error",
            Fault::Latency { .. } => "latency",
            Fault::Drop => "drop",
            Fault::Duplicate => "duplicate",
        }
    }
}

/// A fault for some requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// `DynamoDB` or `SQS` (any when absent).
    #[serde(default)]
    pub service: Option<String>,
    /// Operations it applies to (any when empty), e.g. `UpdateItem`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// The chance each matching request is taken, 0 to 1.
    pub probability: f64,
    /// Take at most this many requests (no limit when absent).
    #[serde(default)]
    pub limit: Option<u64>,
    /// What it does to a request it takes (in JSON, the `fault` field and
    /// the fault's own fields beside the rule's).
    #[serde(flatten)]
    pub fault: Fault,
}

impl Rule {
    /// A rule for `service`'s `operations` (all when empty).
    pub fn new(service: &str, operations: &[&str], probability: f64, fault: Fault) -> Self {
        Rule {
            service: Some(service.to_owned()),
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
            probability,
            limit: None,
            fault,
        }
    }

    /// The rule, taking at most `n` requests.
    pub fn times(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    fn matches(&self, service: &str, operation: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && (self.operations.is_empty() || self.operations.iter().any(|o| o == operation))
    }
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<BTreeMap<String, u64>>,
    requests: Mutex<BTreeMap<String, u64>>,
}

/// A proxy serving on 127.0.0.1 as long as the Tokio runtime that
/// started it; clones share its rules and counts.
#[derive(Clone)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// The connection is broken instead of answered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

type Upstream = HttpClient<HttpConnector, Full<Bytes>>;

impl Proxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free
    /// port (or `port`), with `rules`.
    pub async fn start(upstream: &str, port: u16, rules: Vec<Rule>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rules: Mutex::new(rules),
            counts: Mutex::default(),
            requests: Mutex::default(),
        });
        let client: Upstream = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let state = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, client, upstream) = (state.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(state.clone(), client.clone(), upstream.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Proxy { addr, shared })
    }

    /// The endpoint URL to give SDK clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules for the requests to come; the counts so far are
    /// kept.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = rules;
    }

    /// Faults injected so far, by `fault service operation`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().unwrap().clone()
    }

    /// Requests seen so far, by `service operation`.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Faults injected so far of one kind.
    pub fn count(&self, fault: &str) -> u64 {
        self.counts()
            .iter()
            .filter(|(k, _)| k.split(' ').next() == Some(fault))
            .map(|(_, n)| n)
            .sum()
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

async fn handle(
    state: Arc<Shared>,
    client: Upstream,
    upstream: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    if parts.uri.path() == "/__faults" {
        let counts = state.counts.lock().unwrap().clone();
        return Ok(respond(StatusCode::OK, serde_json::to_string(&counts)?));
    }
    if parts.uri.path() == "/__rules" {
        let rules: Vec<Rule> = serde_json::from_slice(&body)?;
        *state.rules.lock().unwrap() = rules;
        return Ok(respond(StatusCode::OK, "{}".to_owned()));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
    let service = match prefix {
        p if p.starts_with("DynamoDBStreams") => "DynamoDBStreams",
        p if p.starts_with("DynamoDB") => "DynamoDB",
        "AmazonSQS" => "SQS",
        _ => "other",
    };
    *state
        .requests
        .lock()
        .unwrap()
        .entry(format!("{service} {operation}"))
        .or_default() += 1;
    let fault = {
        let mut rules = state.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| {
                r.matches(service, operation)
                    && r.limit != Some(0)
                    && rand::random::<f64>() < r.probability
            })
            .map(|r| {
                r.limit = r.limit.map(|n| n - 1);
                r.fault.clone()
            })
    };
    if let Some(fault) = &fault {
        *state
            .counts
            .lock()
            .unwrap()
            .entry(format!("{} {service} {operation}", fault.name()))
            .or_default() += 1;
    }
    let forward = || {
        let mut builder = Request::builder().method(parts.method.clone()).uri(format!(
            "{upstream}{}",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        ));
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let client = client.clone();
        async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::from_parts(
                parts,
                Full::new(body),
            ))
        }
    };
    match fault {
        None => forward().await,
        Some(Fault::Throttle) => {
            let kind = if service == "SQS" {
                "com.amazonaws.sqs#ThrottlingException"
            } else {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            };
            Ok(respond(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"__type": kind, "message": "Rate exceeded (injected)"})
                    .to_string(),
            ))
        }
        Some(Fault::Error) => Ok(respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"__type": "InternalServerError", "message": "injected"}).to_string(),
        )),
        Some(Fault::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            forward().await
        }
        Some(Fault::Drop) => {
            forward().await?;
            Err(Box::new(Dropped))
        }
        Some(Fault::Duplicate) => {
            let first = forward().await?;
            forward().await?;
            Ok(first)
        }
    }
}
