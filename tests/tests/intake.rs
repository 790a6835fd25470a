//! Job requests from non-Hangar producers: boto3 puts the messages on the
//! queue, the worker polls them like the Lambda event source would.

use std::time::Duration;

use hangar::worker::INVALID_MESSAGE_KIND;
use hangar::{JobId, JobRecord, Poller, State};
use hangar_integration_tests::{
    EnvOptions, TestEnv, endpoint, run_python, run_python_with_input, workspace_root,
};
use serde_json::{Value, json};

/// Sends messages with boto3: argv = endpoint, queue URL, mode; stdin = a
/// JSON list of `{"body": str, "attributes": {name: value}?}`; sends them as one
/// `SendMessageBatch` when `batch` is set, else one by one. Prints the SQS
/// message ids as a JSON list, in order.
const SEND: &str = r#"
import json, sys, boto3
endpoint, url, batch = sys.argv[1], sys.argv[2], sys.argv[3] == "batch"
messages = json.load(sys.stdin)
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
def attrs(m):
    return {k: {"DataType": "String", "StringValue": v} for k, v in m.get("attributes", {}).items()}
if batch:
    entries = [{"Id": str(i), "MessageBody": m["body"], "MessageAttributes": attrs(m)} for i, m in enumerate(messages)]
    out = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert not out.get("Failed"), out
    ids = {e["Id"]: e["MessageId"] for e in out["Successful"]}
    print(json.dumps([ids[str(i)] for i in range(len(messages))]))
else:
    print(json.dumps([sqs.send_message(QueueUrl=url, MessageBody=m["body"], MessageAttributes=attrs(m))["MessageId"] for m in messages]))
"#;

pub(crate) fn send(env: &TestEnv, messages: &[Value], batch: bool) -> Vec<String> {
    let url = &env.config.queue_urls["default"];
    let out = run_python_with_input(
        SEND,
        &[&endpoint(), url, if batch { "batch" } else { "one" }],
        &serde_json::to_string(messages).unwrap(),
    );
    serde_json::from_str(out.trim()).unwrap()
}

pub(crate) fn body(v: Value) -> Value {
    json!({ "body": v.to_string() })
}

pub(crate) fn poller(env: &TestEnv) -> Poller {
    env.poller(hangar_worker::jobs::registry())
}

/// Polls until every job exists and satisfies `done`.
pub(crate) async fn run_until(
    env: &TestEnv,
    poller: &Poller,
    ids: &[JobId],
    done: impl Fn(&JobRecord) -> bool,
) -> Vec<JobRecord> {
    let start = std::time::Instant::now();
    loop {
        let mut jobs = Vec::new();
        for id in ids {
            match env.client.get(id).await.unwrap() {
                Some(j) if done(&j) => jobs.push(j),
                _ => break,
            }
        }
        if jobs.len() == ids.len() {
            return jobs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not done: {jobs:?} of {ids:?}"
        );
        poller.poll_once().await.unwrap();
    }
}

fn final_state(j: &JobRecord) -> bool {
    matches!(j.state, State::Succeeded | State::Failed)
}

pub(crate) fn request(key: &str, name: &str) -> Value {
    json!({"hangar_intake": 1, "kind": "hello", "args": {"name": name}, "idempotency_key": key})
}

#[tokio::test]
async fn each_envelope_creates_and_runs_one_job() {
    let env = TestEnv::new().await;
    let s3_event = json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "k.png"}}}]});
    let messages = vec![
        body(request("plain", "plain")),
        body(json!({
            "version": "0", "id": "6a7e8feb", "detail-type": "Order Placed", "source": "shop",
            "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": request("eventbridge", "eventbridge"),
        })),
        // EventBridge events may lack fields such as account.
        body(
            json!({"detail-type": "Order Placed", "source": "shop", "detail": request("eventbridge-sparse", "sparse")}),
        ),
        body(json!({
            "Type": "Notification", "MessageId": "22b80b92", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": request("sns", "sns").to_string(), "Timestamp": "2026-11-24T10:00:00.000Z",
            "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "https://x", "UnsubscribeURL": "https://x",
        })),
        // SNS with raw delivery: the request itself.
        body(request("sns-raw", "raw")),
        json!({"body": s3_event.to_string(), "attributes": {"hangar-kind": "hello"}}),
    ];
    let sqs_ids = send(&env, &messages, false);
    let mut ids: Vec<JobId> = [
        "plain",
        "eventbridge",
        "eventbridge-sparse",
        "sns",
        "sns-raw",
    ]
    .iter()
    .map(|k| JobId::parse(format!("idem-{k}")).unwrap())
    .collect();
    ids.push(JobId::parse(format!("msg-{}", sqs_ids[5])).unwrap());

    let jobs = run_until(&env, &poller(&env), &ids, final_state).await;
    for (job, origin) in jobs.iter().zip([
        "(sqs)",
        "(eventbridge)",
        "(eventbridge)",
        "(sns)",
        "(sqs)",
        "(raw body)",
    ]) {
        assert_eq!(job.state, State::Succeeded, "{job:?}");
        assert_eq!(job.kind, "hello");
        assert!(
            job.history[0].data["origin"].ends_with(origin),
            "{:?}",
            job.history[0]
        );
    }
    assert_eq!(jobs[1].args["name"], "eventbridge");
    assert_eq!(jobs[5].args, s3_event, "the raw body is the args");
    assert_eq!(env.item_count().await, 6, "one job per message");
}

/// A redelivered intake message is the same job; two messages with one
/// idempotency key are one job.
#[tokio::test]
async fn duplicates_make_one_job() {
    let env = TestEnv::new().await;
    let plain = json!({"hangar_intake": 1, "kind": "hello"});
    let sqs_ids = send(
        &env,
        &[
            body(plain),
            body(request("k1", "a")),
            body(request("k1", "b")),
        ],
        false,
    );
    // Receive the first message and deliver it to the worker twice, as SQS
    // may (at-least-once).
    let url = env.config.queue_urls["default"].clone();
    let mut deliveries = Vec::new();
    while deliveries.len() < 3 {
        let out = env
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            deliveries.push(hangar::Delivery {
                message_id: m.message_id.unwrap(),
                body: m.body.unwrap(),
                queue: "default".into(),
                attributes: Default::default(),
            });
        }
    }
    let worker = env.worker(hangar_worker::jobs::registry());
    let first = deliveries
        .iter()
        .find(|d| d.message_id == sqs_ids[0])
        .unwrap()
        .clone();
    assert!(
        worker
            .handle_batch(vec![first.clone()], None)
            .await
            .is_empty()
    );
    assert!(worker.handle_batch(vec![first], None).await.is_empty());
    // The request for "a" arrives before the one for "b"; a batch's messages
    // are handled concurrently, so the order is made here, not by SQS.
    let a = deliveries
        .iter()
        .find(|d| d.message_id == sqs_ids[1])
        .unwrap()
        .clone();
    assert!(worker.handle_batch(vec![a], None).await.is_empty());
    assert!(worker.handle_batch(deliveries, None).await.is_empty());

    let msg_job = JobId::parse(format!("msg-{}", sqs_ids[0])).unwrap();
    let keyed = JobId::parse("idem-k1").unwrap();
    let jobs = run_until(&env, &poller(&env), &[msg_job, keyed.clone()], final_state).await;
    assert!(jobs.iter().all(|j| j.state == State::Succeeded));
    assert_eq!(
        jobs[1].args["name"], "a",
        "the first request with the key wins"
    );
    assert_eq!(env.item_count().await, 2);
}

/// Each bad request becomes one Failed job saying what was wrong, with the
/// raw body; the good ones in the same batch run.
#[tokio::test]
async fn bad_requests_become_failed_jobs_and_good_ones_still_run() {
    let env = TestEnv::new().await;
    let huge = "x".repeat(130 * 1024);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"body": "this is not json"}), "not JSON"),
        (
            body(json!({"hangar_intake": 2, "kind": "hello"})),
            "unknown intake format version 2",
        ),
        (
            body(json!({"hangar_intake": 1, "args": {}})),
            "missing field `kind`",
        ),
        (
            body(json!({"hangar_intake": 1, "kind": "hello", "delay": 5})),
            "unknown field `delay`",
        ),
        (
            body(json!({"hangar_intake": 1, "kind": "hello", "args": {"name": huge}})),
            "the limit is 131072 bytes",
        ),
        // Well-formed request, but the args do not fit the typed job: the
        // job is created and fails at once without retries.
        (
            body(json!({"hangar_intake": 1, "kind": "sleep", "args": {"ms": "soon"}})),
            "arguments do not match kind sleep",
        ),
    ];
    let mut messages: Vec<Value> = cases.iter().map(|(m, _)| m.clone()).collect();
    messages.push(body(
        json!({"hangar_intake": 1, "kind": "hello", "args": {"name": "good-1"}}),
    ));
    messages.push(body(
        json!({"hangar_intake": 1, "kind": "sleep", "args": {"ms": 10}}),
    ));
    let sqs_ids = send(&env, &messages, true);
    let ids: Vec<JobId> = sqs_ids
        .iter()
        .map(|m| JobId::parse(format!("msg-{m}")).unwrap())
        .collect();
    let jobs = run_until(&env, &poller(&env), &ids, final_state).await;

    for (i, (_, want)) in cases.iter().enumerate() {
        let job = &jobs[i];
        assert_eq!(job.state, State::Failed, "{job:?}");
        let entry = job.history.last().unwrap();
        let reason = entry.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(want), "case {i}: {reason}");
        if i < 5 {
            assert_eq!(job.kind, INVALID_MESSAGE_KIND);
            let raw = &entry.data["raw_body"];
            let sent = messages[i]["body"].as_str().unwrap();
            let shown: String = raw.chars().take(200).collect();
            let expected: String = sent.chars().take(200).collect();
            assert_eq!(shown, expected, "case {i}: the raw body is shown");
            assert!(raw.len() <= 2100, "raw body truncated");
        } else {
            assert_eq!(job.kind, "sleep");
            assert_eq!(job.attempt, 1, "no retries for undecodable args");
        }
    }
    assert_eq!(jobs[6].state, State::Succeeded);
    assert_eq!(jobs[7].state, State::Succeeded);
    // Nothing is left to be redelivered.
    assert_eq!(env.queue_depth("default").await, (0, 0, 0));
}

/// Delays and absolute times in a request.
#[tokio::test]
async fn delayed_requests() {
    let env = TestEnv::new().await;
    let at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    send(
        &env,
        &[
            body(
                json!({"hangar_intake": 1, "kind": "hello", "delay_seconds": 2, "idempotency_key": "soon"}),
            ),
            body(
                json!({"hangar_intake": 1, "kind": "hello", "run_at": at, "idempotency_key": "later", "retries": 1}),
            ),
        ],
        false,
    );
    let p = poller(&env);
    let soon = JobId::parse("idem-soon").unwrap();
    let later = JobId::parse("idem-later").unwrap();
    let jobs = run_until(&env, &p, &[soon.clone(), later.clone()], |_| true).await;
    assert_eq!(jobs[1].state, State::Scheduled);
    assert!(!jobs[1].handed_off, "two hours out: waits for the timer");
    assert_eq!(jobs[1].options.retry.attempts, 1);
    let done = run_until(&env, &p, &[soon], final_state).await;
    assert_eq!(done[0].state, State::Succeeded);
    let states: Vec<State> = done[0].history.iter().map(|h| h.state).collect();
    assert_eq!(states[0], State::Scheduled);
}

/// The JSON Schema in docs/ and the worker agree on what a request is.
#[test]
fn schema_matches_the_parser() {
    let bodies = [
        json!({"hangar_intake": 1, "kind": "hello"}),
        json!({"hangar_intake": 1, "kind": "hello", "args": [1, 2], "queue": "mail", "delay_seconds": 0, "idempotency_key": "a:b.c-d_e", "retries": 0}),
        json!({"hangar_intake": 1, "kind": "hello", "run_at": "2030-01-01T00:00:00+02:00"}),
        json!({"hangar_intake": 2, "kind": "hello"}),
        json!({"hangar_intake": 1}),
        json!({"hangar_intake": 1, "kind": "hello", "extra": true}),
        json!({"hangar_intake": 1, "kind": "hello", "delay_seconds": -1}),
        json!({"hangar_intake": 1, "kind": "hello", "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}),
        json!({"hangar_intake": 1, "kind": "hello", "queue": "Mail"}),
        json!({"hangar_intake": 1, "kind": "hello", "idempotency_key": "has space"}),
        json!({"hangar_intake": 1, "kind": "with space"}),
        json!({"hangar_intake": 1, "kind": "hello", "retries": 1.5}),
        json!({"hangar_intake": 1, "kind": "hello", "retries": 100}),
        json!({"hangar_intake": 1, "kind": "hello", "retries": 101}),
        json!({"hangar_intake": 1, "kind": "hello", "concurrency": {"key": "db", "limit": 2}, "params": {"tenant": "acme"}}),
        json!({"hangar_intake": 1, "kind": "hello", "ordered": "acct-1", "rate": {"key": "api", "limit": 5, "per_seconds": 2}}),
        json!({"hangar_intake": 1, "kind": "hello", "concurrency": {"key": "db", "limit": 0}}),
        json!({"hangar_intake": 1, "kind": "hello", "concurrency": {"key": "db"}}),
        json!({"hangar_intake": 1, "kind": "hello", "ordered": "a", "concurrency": {"key": "a", "limit": 1}}),
        json!({"hangar_intake": 1, "kind": "hello", "ordered": "has space"}),
        json!({"hangar_intake": 1, "kind": "hello", "rate": {"key": "api", "limit": 5, "per_seconds": 0}}),
        json!({"hangar_intake": 1, "kind": "hello", "params": {"bad name": "x"}}),
        json!({"hangar_intake": 1, "kind": "hello", "params": {"n": 1}}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a"}, {"kind": "b", "args": [1], "delay_seconds": 5, "rate": {"key": "api", "limit": 5, "per_seconds": 2}}],
               "continuations": [{"kind": "c", "on": "any_finished"}, {"kind": "d"}], "description": "d", "idempotency_key": "k"}),
        json!({"hangar_batch": 1, "jobs": []}),
        json!({"hangar_intake": 1, "kind": "hello", "timeout_seconds": 90}),
        json!({"hangar_intake": 1, "kind": "hello", "timeout_seconds": 0}),
        json!({"hangar_intake": 1, "kind": "hello", "timeout_seconds": 604_801}),
        json!({"hangar_intake": 1, "kind": "hello", "timeout_seconds": "90"}),
        json!({"hangar_batch": 2, "jobs": [{"kind": "a"}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a", "hangar_intake": 1}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a", "idempotency_key": "x"}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a"}], "continuations": [{"kind": "c", "on": "later"}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a"}], "continuations": [{"kind": "c", "ordered": "k"}]}),
        json!({"hangar_batch": 1, "jobs": [{"args": {}}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a"}], "extra": 1}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a", "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}]}),
        json!({"hangar_batch": 1, "jobs": [{"kind": "a"}], "description": "x".repeat(300)}),
        json!({"hangar_batch": 1, "hangar_intake": 1, "kind": "a", "jobs": [{"kind": "a"}]}),
    ];
    let schema = workspace_root().join("docs/intake.schema.json");
    let verdicts = run_python(
        r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
print(json.dumps([checker.is_valid(b) for b in json.loads(sys.argv[2])]))
"#,
        &[
            schema.to_str().unwrap(),
            &serde_json::to_string(&bodies[..]).unwrap(),
        ],
    );
    let schema_says: Vec<bool> = serde_json::from_str(verdicts.trim()).unwrap();
    for (b, schema_ok) in bodies.iter().zip(schema_says) {
        let parser_ok = matches!(
            hangar::intake::parse_message(&b.to_string(), None),
            hangar::intake::Message::Intake(..) | hangar::intake::Message::Batch(..)
        );
        assert_eq!(schema_ok, parser_ok, "{b}");
    }
}

/// On a queue routed to a kind (`HANGAR_QUEUE_KINDS`), a body that is not a
/// Hangar message (an S3 notification sent straight to the queue) becomes a
/// job of that kind; Hangar's own messages on it work as anywhere.
#[tokio::test]
async fn queue_routed_to_a_kind() {
    let env = TestEnv::with(EnvOptions {
        queues: vec!["default", "uploads"],
        queue_kinds: vec![("uploads", "hello")],
        ..Default::default()
    })
    .await;
    let s3_event =
        json!({"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "a.png"}}}]});
    let url = env.config.queue_urls["uploads"].clone();
    let out = run_python_with_input(
        SEND,
        &[&endpoint(), &url, "one"],
        &json!([{"body": s3_event.to_string()}]).to_string(),
    );
    let sqs_ids: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    let own = env
        .client
        .enqueue(hangar::NewJob::new("hello", json!({})).queue("uploads"))
        .await
        .unwrap();
    let p = Poller::new(env.worker(hangar_worker::jobs::registry()), "uploads");
    let routed = JobId::parse(format!("msg-{}", sqs_ids[0])).unwrap();
    let jobs = run_until(&env, &p, &[routed, own], final_state).await;
    assert!(jobs.iter().all(|j| j.state == State::Succeeded), "{jobs:?}");
    assert_eq!(jobs[0].kind, "hello");
    assert_eq!(jobs[0].args, s3_event);
    assert_eq!(jobs[0].options.queue, "uploads");
}

/// A request's limits and parameters reach its job.
#[tokio::test]
async fn requests_carry_limits_and_parameters() {
    let env = TestEnv::new().await;
    env.send_raw(
        "default",
        r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"lim-1","concurrency":{"key":"db","limit":2},"rate":{"key":"api","limit":5,"per_seconds":2},"params":{"tenant":"acme"}}"#,
    )
    .await;
    env.send_raw(
        "default",
        r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"lim-2","ordered":"acct-9"}"#,
    )
    .await;
    let poller = env.poller(hangar::Registry::new());
    for _ in 0..2 {
        poller.poll_once().await.unwrap();
    }
    let j = env.job(&JobId::parse("idem-lim-1").unwrap()).await;
    let c = j.options.concurrency.clone().unwrap();
    assert_eq!((c.key.as_str(), c.limit), ("db", 2));
    let r = j.options.rate.clone().unwrap();
    assert_eq!((r.key.as_str(), r.limit, r.per_ms), ("api", 5, 2000));
    assert_eq!(j.params["tenant"], "acme");
    let o = env.job(&JobId::parse("idem-lim-2").unwrap()).await;
    assert_eq!(
        (o.options.ordered.as_deref(), o.sequence),
        (Some("acct-9"), Some(1))
    );
}

/// A batch request makes one batch (sent twice with its idempotency key:
/// still one), whose jobs and continuation run; a bad one becomes a Failed
/// job saying which job of it was wrong.
#[tokio::test]
async fn batch_requests_make_one_batch() {
    let env = TestEnv::new().await;
    let request = json!({
        "hangar_batch": 1,
        "idempotency_key": "export-1",
        "description": "two greetings",
        "jobs": [
            {"kind": "hello", "args": {"name": "a"}},
            {"kind": "hello", "args": {"name": "b"}, "params": {"tenant": "acme"}}
        ],
        "continuations": [{"kind": "hello", "args": {"name": "done"}, "on": "succeeded"}]
    });
    let bad =
        json!({"hangar_batch": 1, "jobs": [{"kind": "hello"}, {"kind": "hello", "retries": -1}]});
    let ids = send(
        &env,
        &[body(request.clone()), body(request), body(bad)],
        false,
    );
    let batch = JobId::parse("idem-export-1").unwrap();
    let p = poller(&env);
    let then = JobId::parse("idem-export-1.then1").unwrap();
    let done = run_until(&env, &p, &[then], final_state).await;
    assert_eq!(done[0].state, State::Succeeded);
    let b = env.client.batch(&batch).await.unwrap().unwrap();
    assert_eq!((b.total, b.succeeded, b.all_succeeded), (2, 2, Some(true)));
    assert_eq!(b.description.as_deref(), Some("two greetings"));
    let second = env.job(&b.job_id(2)).await;
    assert_eq!(second.params["tenant"], "acme");
    assert!(
        second.history[0].data["origin"].contains("Created from SQS message"),
        "{:?}",
        second.history[0]
    );
    let failed = run_until(
        &env,
        &p,
        &[JobId::parse(format!("msg-{}", ids[2])).unwrap()],
        |j| j.state == State::Failed,
    )
    .await;
    let reason = failed[0].last_error.clone().unwrap();
    assert!(
        reason.starts_with("batch request: job 2: retries"),
        "{reason}"
    );
    assert_eq!(failed[0].kind, INVALID_MESSAGE_KIND);
    assert_eq!(env.client.batches(10).await.unwrap().len(), 1);
}

/// A request's timeout bounds its job's run, as the Rust client's does: a
/// run still going after `timeout_seconds` is stopped and counts as a
/// failure.
#[tokio::test]
async fn requests_carry_a_timeout() {
    let env = TestEnv::new().await;
    env.send_raw(
        "default",
        r#"{"hangar_intake":1,"kind":"sleep","args":{"ms":30000},"idempotency_key":"slow","timeout_seconds":1,"retries":0}"#,
    )
    .await;
    let p = poller(&env);
    let id = JobId::parse("idem-slow").unwrap();
    let started = std::time::Instant::now();
    let job = run_until(&env, &p, &[id], final_state).await.remove(0);
    assert_eq!(job.options.timeout, Duration::from_secs(1));
    assert_eq!(job.state, State::Failed);
    let last = job.last_entry().unwrap();
    assert_eq!(last.data["error_type"], "hangar::Timeout", "{last:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
