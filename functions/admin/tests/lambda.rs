//! The real admin bootstrap as Lambda runs it: started under a local stub of
//! the Lambda Runtime API (127.0.0.1), fed Function URL events (payload
//! format 2.0), its responses checked.

use std::time::Instant;

use hangar::NewJob;
use hangar_integration_tests::TestEnv;
use hangar_integration_tests::runtime_api::RuntimeApi;
use serde_json::{Value, json};

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
    let host = json!({"host": "abcdefgh.lambda-url.us-east-1.on.aws"});
    let with_token = json!({"host": "abcdefgh.lambda-url.us-east-1.on.aws", "x-hangar-token": "signed-by-the-proxy", "content-type": "application/json"});
    let events = vec![
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
    ];
    let mut api = RuntimeApi::start(
        events
            .into_iter()
            .map(|e| {
                (
                    e["requestContext"]["requestId"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    e,
                )
            })
            .collect(),
    )
    .await;
    let started = Instant::now();
    let child = api
        .command(env!("CARGO_BIN_EXE_hangar-admin"), "admin", &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the admin bootstrap starts");
    let results = api.answers(5).await;
    println!(
        "figure: admin bootstrap answered 5 Function URL events in {:?}",
        started.elapsed()
    );
    // Every line it wrote is JSON.
    RuntimeApi::stop(child).await;

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

/// In Lambda an error that stops the admin function before its first event
/// (a queue name the library refuses) is a JSON line too, and the process
/// exits with status 1.
#[tokio::test]
async fn admin_bootstrap_reports_a_refused_configuration_as_json() {
    RuntimeApi::refused_start(env!("CARGO_BIN_EXE_hangar-admin"), "admin").await;
}
