//! A stub of the Lambda Runtime API on 127.0.0.1, to run a function's real
//! bootstrap as Lambda runs it: the bootstrap asks `/next` for events, the
//! stub hands out the queued ones (request id, deadline, function ARN in
//! the headers) and collects what comes back on `/response` or `/error`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Clone)]
struct Shared {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    results: mpsc::UnboundedSender<(String, Value)>,
    first_next: Arc<Mutex<Option<Instant>>>,
}

/// The stub as it serves: where it listens, and the answers the bootstrap
/// sent ([`RuntimeApi::answers`]).
pub struct RuntimeApi {
    /// Where it listens (`AWS_LAMBDA_RUNTIME_API`).
    pub addr: SocketAddr,
    results: mpsc::UnboundedReceiver<(String, Value)>,
    first_next: Arc<Mutex<Option<Instant>>>,
}

async fn next(State(s): State<Shared>) -> impl IntoResponse {
    s.first_next
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    loop {
        let event = s.events.lock().unwrap().pop_front();
        if let Some((id, event)) = event {
            let deadline = (chrono::Utc::now() + chrono::Duration::seconds(30)).timestamp_millis();
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:hangar"
                    .parse()
                    .unwrap(),
            );
            return (StatusCode::OK, headers, event.to_string());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer(
    State(s): State<Shared>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = s.results.send((format!("{kind}:{id}"), value));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Starts the stub with events to hand out, each with its request id.
    pub async fn start(events: Vec<(String, Value)>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let first_next = Arc::new(Mutex::new(None));
        let shared = Shared {
            events: Arc::new(Mutex::new(events.into())),
            results: tx,
            first_next: first_next.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi {
            addr,
            results: rx,
            first_next,
        }
    }

    /// A command for a bootstrap with the environment Lambda gives it and
    /// test credentials (no endpoint, no stack).
    pub fn bare_command(&self, bootstrap: &str, function: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bootstrap);
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .envs(crate::TEST_CREDENTIALS)
            .kill_on_drop(true);
        cmd
    }

    /// [`RuntimeApi::bare_command`] on the emulator, with `env`'s stack.
    pub fn command(
        &self,
        bootstrap: &str,
        function: &str,
        env: &crate::TestEnv,
    ) -> tokio::process::Command {
        let mut cmd = self.bare_command(bootstrap, function);
        cmd.envs(env.stack_env());
        cmd
    }

    /// Stops a bootstrap started with piped stdout and stderr; returns
    /// what it wrote on both, every line of which must be JSON (what Lambda
    /// sends to CloudWatch Logs, see [`json_lines`]).
    pub async fn stop(mut child: tokio::process::Child) -> String {
        child.kill().await.expect("the bootstrap stops");
        let output = child.wait_with_output().await.expect("its output");
        logs_of(&output)
    }

    /// Runs a bootstrap whose configuration the library refuses (a queue
    /// name in `HANGAR_QUEUES`): it must exit with status 1 before asking
    /// for an event, having written only JSON lines, one of them the error.
    /// Returns those lines.
    pub async fn refused_start(bootstrap: &str, function: &str) -> Vec<Value> {
        let api = RuntimeApi::start(Vec::new()).await;
        let output = api
            .bare_command(bootstrap, function)
            .env("HANGAR_QUEUES", "default,Emails")
            .env(
                "HANGAR_QUEUE_URL_PREFIX",
                "https://sqs.us-east-1.amazonaws.com/123456789012/hangar-",
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .expect("the bootstrap exits within 30 s")
            .expect("the bootstrap runs");
        let logs = logs_of(&output);
        assert_eq!(output.status.code(), Some(1), "{logs}");
        assert!(api.first_next().is_none(), "it asked for an event: {logs}");
        let lines = json_lines(&logs);
        assert!(
            lines.iter().any(|l| l["level"] == "ERROR"
                && l["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(r#"invalid queue name: "Emails""#))),
            "the error, as a JSON line: {logs}"
        );
        lines
    }

    /// The first `n` answers, by `response:<id>` or `error:<id>`.
    pub async fn answers(&mut self, n: usize) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        while out.len() < n {
            let (key, value) = tokio::time::timeout(Duration::from_secs(30), self.results.recv())
                .await
                .expect("the bootstrap answers within 30 s")
                .expect("the stub runs");
            out.insert(key, value);
        }
        out
    }

    /// When the bootstrap first asked for an event.
    pub fn first_next(&self) -> Option<Instant> {
        *self.first_next.lock().unwrap()
    }
}

/// What a bootstrap wrote on stdout and stderr, each line checked to be
/// JSON ([`json_lines`]).
fn logs_of(output: &std::process::Output) -> String {
    let mut logs = String::new();
    for bytes in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(bytes);
        let _ = json_lines(&text);
        logs.push_str(&text);
    }
    logs
}

/// Every line of what a bootstrap wrote in Lambda, parsed: each must be a
/// JSON object (a log line with its `level` and `fields`, or an embedded
/// metric line), as CloudWatch Logs Insights and metric filters read them.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => v,
            _ => panic!("a line that is not a JSON object: {line:?}\nin:\n{text}"),
        })
        .collect()
}
