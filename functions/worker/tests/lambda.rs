//! The real worker bootstrap as Lambda runs it: started under a local stub
//! of the Lambda Runtime API and fed the SQS events an event source mapping
//! sends, against the emulator.

use hangar::message::WakeUp;
use hangar::{NewJob, State};
use hangar_integration_tests::TestEnv;
use hangar_integration_tests::runtime_api::{RuntimeApi, json_lines};
use serde_json::{Value, json};

fn record(env: &TestEnv, queue: &str, id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795000000001"
        },
        "messageAttributes": {},
        "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}-{queue}", env.config.stack),
        "awsRegion": "us-east-1"
    })
}

/// Waits for the answer to the event `r1` and asserts that it handled
/// every record (no `batchItemFailures`).
async fn all_handled(api: &mut RuntimeApi) {
    let answers = api.answers(1).await;
    assert_eq!(
        answers["response:r1"]["batchItemFailures"],
        json!([]),
        "{answers:?}"
    );
}

/// One SQS event with a wake-up, a job request, a malformed body, and an
/// early wake-up whose delayed copy cannot be sent (its queue is gone): the
/// first three handled (the malformed body as a visible Failed job), the
/// last reported in `batchItemFailures` for SQS to deliver again.
#[tokio::test]
async fn worker_bootstrap_handles_an_sqs_event() {
    let env = TestEnv::new().await;
    let job = env
        .client
        .enqueue(NewJob::new("hello", json!({"name": "lambda"})))
        .await
        .unwrap();
    let wake = WakeUp::for_job(&env.job(&job).await).to_body();
    // A wake-up that came early for a job on a queue deleted since: the
    // delayed copy cannot be sent, so the record must be delivered again.
    let gone = env
        .sqs
        .create_queue()
        .queue_name(format!("{}-gone", env.config.stack))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let early = env
        .client
        .schedule(
            NewJob::new("hello", json!({})).queue("gone"),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    env.sqs
        .delete_queue()
        .queue_url(&gone)
        .send()
        .await
        .unwrap();
    let early_wake = WakeUp::for_job(&env.job(&early).await).to_body();
    let event = json!({"Records": [
        record(&env, "default", "m-wake", &wake),
        record(&env, "default", "m-request", r#"{"hangar_intake":1,"kind":"hello","args":{"name":"request"}}"#),
        record(&env, "default", "m-bad", "not a hangar message"),
        record(&env, "gone", "m-early", &early_wake),
    ]});
    let mut api = RuntimeApi::start(vec![("r1".into(), event)]).await;
    let started = std::time::Instant::now();
    let child = api
        .command(env!("CARGO_BIN_EXE_hangar-worker"), "worker", &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the worker bootstrap starts");
    let answers = api.answers(1).await;
    let first_next = api.first_next().expect("the bootstrap asked for an event");
    println!(
        "figure: worker bootstrap asked for its first event {:?} after spawn (debug build)",
        first_next - started
    );

    let response = &answers["response:r1"];
    let failed: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("a partial batch response: {answers:?}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["m-early"], "{response}");
    assert_eq!(env.job(&early).await.state, State::Scheduled);
    assert_eq!(env.job(&job).await.state, State::Succeeded);
    // The request became a job (its id derives from the message id), and
    // the malformed body a Failed job that says why.
    let failed = env.client.list(State::Failed, None, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("not JSON"),
        "{:?}",
        failed[0].last_error
    );
    let enqueued = env.client.list(State::Enqueued, None, 10).await.unwrap();
    assert!(
        enqueued.iter().any(|j| j.args["name"] == "request"),
        "{enqueued:?}"
    );

    // In Lambda the worker writes embedded-metric lines on stdout: the
    // wake-up's run, counted under its queue and kind. Every line it wrote
    // is JSON.
    let out = RuntimeApi::stop(child).await;
    let metrics: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(metrics.len(), 1, "{out}");
    assert_eq!(metrics[0]["Kind"], "hello");
    assert_eq!(metrics[0]["Queue"], "default");
    assert_eq!(metrics[0]["JobsSucceeded"], 1);
    assert_eq!(
        metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Hangar"
    );
}

/// Job arguments, failure messages and raw bodies often hold personal data:
/// the worker's info-level output (what Lambda sends to CloudWatch Logs)
/// shows none of them, whatever happens to the job: run, failed, created
/// from a request or a batch request, recorded as a bad message.
#[tokio::test]
async fn worker_logs_no_arguments_or_bodies() {
    const MARKER: &str = "pii-7f3a9c-marker";
    let env = TestEnv::new().await;
    let ok = env
        .client
        .enqueue(NewJob::new("sleep", json!({"ms": 1, "email": MARKER})))
        .await
        .unwrap();
    let failing = env
        .client
        .enqueue(
            NewJob::new(
                "fail",
                json!({"message": format!("card {MARKER} declined")}),
            )
            .retries(0),
        )
        .await
        .unwrap();
    let unknown = env
        .client
        .enqueue(NewJob::new("no-such-kind", json!({"token": MARKER})))
        .await
        .unwrap();
    let panicking = env
        .client
        .enqueue(
            NewJob::new(
                "fail",
                json!({"message": format!("card {MARKER} declined"), "panic": true}),
            )
            .retries(0),
        )
        .await
        .unwrap();
    let wake = |id: &hangar::JobId| {
        let env = &env;
        let id = id.clone();
        async move { WakeUp::for_job(&env.job(&id).await).to_body() }
    };
    let event = json!({"Records": [
        record(&env, "default", "m-ok", &wake(&ok).await),
        record(&env, "default", "m-fail", &wake(&failing).await),
        record(&env, "default", "m-unknown", &wake(&unknown).await),
        record(&env, "default", "m-panic", &wake(&panicking).await),
        record(&env, "default", "m-request", &json!({"hangar_intake": 1, "kind": "sleep", "args": {"ms": 1, "name": MARKER}}).to_string()),
        record(&env, "default", "m-bad-field", &json!({"hangar_intake": 1, "kind": "sleep", "retries": MARKER}).to_string()),
        record(&env, "default", "m-not-json", &format!("{{not json {MARKER}")),
        record(&env, "default", "m-batch", &json!({"hangar_batch": 1, "jobs": [{"kind": "sleep", "args": {"ms": 1, "id": MARKER}}]}).to_string()),
    ]});
    let mut api = RuntimeApi::start(vec![("r1".into(), event)]).await;
    let child = api
        .command(env!("CARGO_BIN_EXE_hangar-worker"), "worker", &env)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the worker bootstrap starts");
    all_handled(&mut api).await;
    assert_eq!(env.job(&ok).await.state, State::Succeeded);
    let failed = env.job(&failing).await;
    assert_eq!(failed.state, State::Failed);
    assert!(
        failed.last_error.unwrap().contains(MARKER),
        "stored with the job"
    );
    let panicked = env.job(&panicking).await;
    assert_eq!(panicked.state, State::Failed);
    assert!(
        panicked.last_error.unwrap().contains("handler panicked"),
        "the panic is the job's failure"
    );
    // Every line is JSON, the panic's too (its location, not its message).
    let logs = RuntimeApi::stop(child).await;
    assert!(
        logs.contains("job created from a request") && logs.contains("not a Hangar message"),
        "the info-level output was captured: {logs}"
    );
    assert!(
        json_lines(&logs)
            .iter()
            .any(|l| l["level"] == "ERROR" && l["fields"]["message"] == "panicked"),
        "the panic is logged: {logs}"
    );
    assert!(
        !logs.contains(MARKER),
        "a marker from the arguments was logged:\n{logs}"
    );
}

/// The SDK's per-service endpoint variables apply over `AWS_ENDPOINT_URL`
/// (which LocalStack sets in a function's environment): with it pointing
/// nowhere and `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS` at the
/// emulator, the worker turns a job request into a job (a DynamoDB write)
/// and sends its wake-up (SQS).
#[tokio::test]
async fn worker_uses_the_per_service_endpoint_variables() {
    let env = TestEnv::new().await;
    let emulator = hangar_integration_tests::endpoint();
    let event = json!({"Records": [
        record(&env, "default", "m-endpoints", r#"{"hangar_intake":1,"kind":"hello","args":{"name":"split"}}"#),
    ]});
    let mut api = RuntimeApi::start(vec![("r1".into(), event)]).await;
    let _child = api
        .command(env!("CARGO_BIN_EXE_hangar-worker"), "worker", &env)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &emulator)
        .env("AWS_ENDPOINT_URL_SQS", &emulator)
        .spawn()
        .expect("the worker bootstrap starts");
    all_handled(&mut api).await;
    let job = env
        .job(&hangar::JobId::parse("msg-m-endpoints").unwrap())
        .await;
    assert_eq!(
        (job.state, job.args["name"].as_str()),
        (State::Enqueued, Some("split"))
    );
    assert_eq!(
        env.queue_depth("default").await.0,
        1,
        "its wake-up was sent"
    );
}

/// In Lambda an error that stops the worker before its first event (a
/// queue name the library refuses) is a JSON line too, and the process
/// exits with status 1.
#[tokio::test]
async fn worker_bootstrap_reports_a_refused_configuration_as_json() {
    RuntimeApi::refused_start(env!("CARGO_BIN_EXE_hangar-worker"), "worker").await;
}
