//! The real admin bootstrap as Lambda runs it: started under a local stub of
//! the Lambda Runtime API (127.0.0.1), fed Function URL events (payload
//! format 2.0), its responses checked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hangar::NewJob;
use hangar_integration_tests::{TestEnv, endpoint};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Clone)]
struct Stub {
    events: Arc<Mutex<VecDeque<Value>>>,
    results: mpsc::UnboundedSender<(String, Value)>,
}

async fn next(State(stub): State<Stub>) -> impl IntoResponse {
    loop {
        let event = stub.events.lock().unwrap().pop_front();
        if let Some(event) = event {
            let id = event["requestContext"]["requestId"]
                .as_str()
                .unwrap()
                .to_owned();
            let deadline = (chrono::Utc::now() + chrono::Duration::seconds(30)).timestamp_millis();
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:admin"
                    .parse()
                    .unwrap(),
            );
            return (StatusCode::OK, headers, event.to_string());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn respond(
    State(stub): State<Stub>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = stub.results.send((format!("{kind}:{id}"), value));
    StatusCode::ACCEPTED
}

/// A Function URL event for a request.
fn url_event(id: &str, method: &str, path: &str, headers: Value, body: Option<&str>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefgh",
            "domainName": "abcdefgh.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefgh",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The admin bootstrap answers Function URL requests through the Runtime
/// API: a page of the API, a job, and an action carrying the header every
/// state change needs (refused without it).
#[tokio::test]
async fn admin_bootstrap_serves_function_url_events() {
    let env = TestEnv::new().await;
    let id = env
        .client
        .enqueue(NewJob::new("k", json!({"x": 1})))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let host = json!({"host": "abcdefgh.lambda-url.us-east-1.on.aws"});
    let with_token = json!({"host": "abcdefgh.lambda-url.us-east-1.on.aws", "x-hangar-token": "signed-by-the-proxy", "content-type": "application/json"});
    let events = VecDeque::from([
        url_event("r1", "GET", "/api/stats", host.clone(), None),
        url_event("r2", "GET", &format!("/api/jobs/{id}"), host.clone(), None),
        url_event(
            "r3",
            "POST",
            &format!("/api/jobs/{id}/delete"),
            host.clone(),
            Some("{}"),
        ),
        url_event(
            "r4",
            "POST",
            &format!("/api/jobs/{id}/delete"),
            with_token,
            Some("{}"),
        ),
        url_event("r5", "GET", "/", host, None),
    ]);
    let stub = Stub {
        events: Arc::new(Mutex::new(events)),
        results: tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let started = std::time::Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hangar-admin"))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "admin")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/admin")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("HANGAR_STACK", &env.config.stack)
        .env("HANGAR_TABLE", &env.config.table)
        .env(
            "HANGAR_QUEUE_URLS",
            format!("default={}", env.config.queue_urls["default"]),
        )
        .kill_on_drop(true)
        .spawn()
        .expect("the admin bootstrap starts");

    let mut results = std::collections::BTreeMap::new();
    while results.len() < 5 {
        let (key, value) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the bootstrap answers within 30 s")
            .unwrap();
        results.insert(key, value);
    }
    println!(
        "figure: admin bootstrap answered 5 Function URL events in {:?}",
        started.elapsed()
    );
    child.kill().await.unwrap();

    let body = |k: &str| -> Value {
        let r = &results[k];
        serde_json::from_str(r["body"].as_str().unwrap()).unwrap_or(Value::Null)
    };
    assert_eq!(results["response:r1"]["statusCode"], 200, "{results:?}");
    assert_eq!(body("response:r1")["states"]["enqueued"], 1);
    assert_eq!(results["response:r2"]["statusCode"], 200);
    assert_eq!(body("response:r2")["args"]["x"], 1);
    assert_eq!(
        results["response:r3"]["statusCode"], 403,
        "no token header: refused"
    );
    assert_eq!(
        results["response:r4"]["statusCode"], 200,
        "{:?}",
        results["response:r4"]
    );
    assert_eq!(body("response:r4")["state"], "Deleted");
    assert_eq!(results["response:r5"]["statusCode"], 200);
    assert!(
        results["response:r5"]["body"]
            .as_str()
            .unwrap()
            .contains("Overview")
    );
}
