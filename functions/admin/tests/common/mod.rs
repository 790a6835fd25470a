//! Requests to the admin router for the tests: a GET on any router, and
//! [`Api`], an admin over a fresh emulator stack with a session token, with
//! the jobs and dead letters the tests start from.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hangar::{JobId, NewJob, State};
use hangar_admin::{Admin, Options, TOKEN_HEADER};
use hangar_integration_tests::TestEnv;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A GET: the status and the body as text.
pub async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let resp = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A GET that must answer 200 with JSON.
pub async fn get_json(router: &axum::Router, uri: &str) -> Value {
    let (status, body) = get(router, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

pub struct Api {
    pub env: TestEnv,
    pub router: axum::Router,
}

pub const TOKEN: &str = "t0ken";

impl Api {
    pub async fn new() -> Self {
        Self::with(Options {
            token: Some(TOKEN.into()),
            ..Options::default()
        })
        .await
    }

    pub async fn with(options: Options) -> Self {
        let env = TestEnv::new().await;
        let router = Admin::new(env.client.clone(), options)
            .with_logs(env.run_logs())
            .router();
        Api { env, router }
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, String) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A request with these headers and no body.
    pub async fn send_with(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A fresh Enqueued job.
    pub async fn enqueued(&self) -> JobId {
        self.env
            .client
            .enqueue(NewJob::new("k", json!({})))
            .await
            .unwrap()
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub async fn page(&self, uri: &str) -> (StatusCode, String) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(uri)
            .header("content-type", "application/json")
            .header(TOKEN_HEADER, TOKEN)
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, body) = self.send(req).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Puts messages straight into the default queue's dead-letter queue, as
    /// SQS does after too many receives; returns their message ids.
    pub async fn dead_letters(&self, bodies: &[&str]) -> Vec<String> {
        let dlq = self.env.dlq_url("default").await;
        let mut ids = Vec::new();
        for body in bodies {
            let out = self
                .env
                .sqs
                .send_message()
                .queue_url(&dlq)
                .message_body(*body)
                .send()
                .await
                .unwrap();
            ids.push(out.message_id.unwrap());
        }
        ids
    }

    /// A job that ran and Failed (no retries).
    pub async fn failed_job(&self, args: Value) -> JobId {
        let id = self
            .env
            .client
            .enqueue(NewJob::new("unknown-kind", args).retries(0))
            .await
            .unwrap();
        let poller = self.env.poller(hangar::Registry::new());
        self.env
            .drive_to(
                &poller,
                &id,
                State::Failed,
                std::time::Duration::from_secs(15),
            )
            .await;
        id
    }
}

pub fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// The ids of a page of jobs the API answered (`{"jobs": [{"id": ..}]}`).
pub fn ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}
