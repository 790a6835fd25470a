//! The bad-input catalogue (`docs/bad-input.md`), intake messages and the
//! client API: each case is fed to Hangar through the real SDK and what
//! the user sees is checked against the catalogue; nothing is written but
//! what the catalogue says, and nothing is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;
use hangar::error::error_chain;
use hangar::{
    Batch, ContinueOn, Error, JobId, JobRecord, NewJob, RecurringOptions, RetryPolicy, State,
};
use hangar_integration_tests::{TestEnv, catalogue};
use serde_json::{Value, json};

/// One message as a producer sends it.
struct Sent {
    body: String,
    kind_attribute: Option<MessageAttributeValue>,
}

fn plain(body: impl Into<String>) -> Sent {
    Sent {
        body: body.into(),
        kind_attribute: None,
    }
}

fn request(v: Value) -> Sent {
    plain(v.to_string())
}

fn intake_cases() -> Vec<(&'static str, Sent)> {
    let r = |extra: Value| {
        let mut v = json!({"hangar_intake": 1, "kind": "hello"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        request(v)
    };
    // Arrays nested 200 deep: past serde_json's limit of 128.
    let deep_body = format!(
        r#"{{"hangar_intake": 1, "kind": "hello", "args": {}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let eventbridge = |detail: Value| {
        request(json!({
            "version": "0", "id": "6a7e8feb", "detail-type": "Order Placed", "source": "shop",
            "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail,
        }))
    };
    let sns = |message: &str| {
        request(json!({
            "Type": "Notification", "MessageId": "22b80b92", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": message, "Timestamp": "2026-11-24T10:00:00.000Z",
        }))
    };
    vec![
        ("I01", plain("this is not json")),
        ("I02", request(json!({"order": 17, "total": "9.99"}))),
        ("I03", request(json!({"hangar_intake": 2, "kind": "hello"}))),
        ("I04", request(json!({"hangar_intake": 1, "args": {}}))),
        ("I05", r(json!({"delay": 5}))),
        ("I06", r(json!({"retries": "3"}))),
        ("I07", r(json!({"delay_seconds": -1}))),
        ("I08", r(json!({"delay_seconds": 1e20}))),
        ("I09", r(json!({"timeout_seconds": 604_801}))),
        ("I10", r(json!({"args": {"blob": "x".repeat(130 * 1024)}}))),
        ("I11", plain(deep_body)),
        ("I12", r(json!({"idempotency_key": "k".repeat(129)}))),
        ("I13", r(json!({"queue": "Mail"}))),
        (
            "I14",
            request(json!({"hangar_intake": 1, "kind": "send email"})),
        ),
        (
            "I15",
            r(json!({"delay_seconds": 5, "run_at": "2030-01-01T00:00:00Z"})),
        ),
        ("I16", r(json!({"run_at": "next tuesday"}))),
        ("I17", r(json!({"concurrency": {"key": "db", "limit": 0}}))),
        ("I18", eventbridge(json!({"hangar_intake": 1, "args": {}}))),
        ("I19", sns("{\"hangar_intake\": 1, \"kind\": ")),
        (
            "I20",
            Sent {
                body: "{}".into(),
                kind_attribute: Some(
                    MessageAttributeValue::builder()
                        .data_type("Binary")
                        .binary_value(Blob::new(vec![0x68, 0xff, 0xfe, 0x69]))
                        .build()
                        .unwrap(),
                ),
            },
        ),
        (
            "I21",
            request(json!({"hangar_intake": 1, "kind": "sleep", "args": {"ms": "soon"}})),
        ),
        (
            "I22",
            request(json!({"hangar_intake": 1, "kind": "no.such.kind"})),
        ),
        (
            "I23",
            request(
                json!({"hangar_batch": 1, "jobs": [{"kind": "hello"}, {"kind": "hello", "retries": -2}]}),
            ),
        ),
        ("I24", request(json!({"hangar_batch": 1, "jobs": []}))),
        ("I25", r(json!({"params": {"bad name": "x"}}))),
    ]
}

/// Each bad message becomes one Failed job that says what was wrong; the
/// queue and its dead-letter queue are left empty.
#[tokio::test]
async fn intake_messages() {
    let env = TestEnv::new().await;
    let url = &env.config.queue_urls["default"];
    let cases = intake_cases();
    let mut ids = Vec::new();
    for (case, sent) in &cases {
        let out = env
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(&sent.body)
            .set_message_attributes(
                sent.kind_attribute
                    .clone()
                    .map(|a| [("hangar-kind".to_owned(), a)].into()),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case}: {}", error_chain(&e)));
        ids.push(JobId::parse(format!("msg-{}", out.message_id.unwrap())).unwrap());
    }
    let poller = env.poller(hangar_worker::jobs::registry());
    let jobs = until_ended(&env, &poller, &ids).await;

    let mut seen = BTreeMap::new();
    for ((case, sent), job) in cases.iter().zip(&jobs) {
        assert_eq!(job.state, State::Failed, "{case}: {job:?}");
        assert!(job.attempt <= 1, "{case}: no retries for bad input");
        let reason = job.history.last().and_then(|h| h.reason.clone());
        seen.insert(
            case.to_string(),
            format!(
                "{} job, kind {}: {}",
                job.state,
                job.kind,
                reason.unwrap_or_default()
            ),
        );
        if job.kind == hangar::worker::INVALID_MESSAGE_KIND {
            // The message itself is kept, up to 2 KiB, for whoever looks.
            let raw = &job.history.last().unwrap().data["raw_body"];
            let head: String = sent.body.chars().take(100).collect();
            assert!(raw.starts_with(&head), "{case}: raw body kept");
        }
    }
    catalogue::check("I", &seen);
    // One job per message, nothing else written, nothing left to redeliver.
    assert_eq!(env.item_count().await as usize, cases.len());
    assert_eq!(env.queue_depth("default").await, (0, 0, 0));
}

/// Polls until every job exists and has ended.
async fn until_ended(env: &TestEnv, poller: &hangar::Poller, ids: &[JobId]) -> Vec<JobRecord> {
    let start = std::time::Instant::now();
    loop {
        let jobs = env.client.get_many(ids).await.unwrap();
        if jobs.len() == ids.len() && jobs.iter().all(|j| ended(j.state)) {
            let mut by_id: BTreeMap<JobId, JobRecord> =
                jobs.into_iter().map(|j| (j.id.clone(), j)).collect();
            return ids.iter().map(|id| by_id.remove(id).unwrap()).collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not all final: {:?}",
            jobs.iter()
                .filter(|j| !ended(j.state))
                .map(|j| (&j.id, &j.kind, j.state, j.history.last()))
                .collect::<Vec<_>>()
        );
        poller.poll_once().await.unwrap();
    }
}

/// Client API calls that are refused: each returns an error saying what to
/// do, writes nothing and sends nothing.
#[tokio::test]
async fn client_api() {
    let env = TestEnv::new().await;
    let c = &env.client;
    // What the cases need: a running parent, a finished one past its
    // retention, and a parent with as many continuations as a job holds.
    let parent = c
        .schedule(NewJob::new("hello", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    let expired = c
        .enqueue(NewJob::new("hello", json!({})).retention(Duration::from_secs(1)))
        .await
        .unwrap();
    // Run until it Succeeded and its second of retention passed: from
    // then on it reads as missing, though its item stays until TTL.
    let poller = env.poller(hangar_worker::jobs::registry());
    let start = std::time::Instant::now();
    while c.get(&expired).await.unwrap().is_some() {
        assert!(start.elapsed() < Duration::from_secs(30), "never expired");
        poller.poll_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let full = c
        .schedule(NewJob::new("hello", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    for _ in 0..hangar::job::MAX_CONTINUATIONS {
        c.continue_with(
            &full,
            NewJob::new("hello", json!({})),
            ContinueOn::Succeeded,
        )
        .await
        .unwrap();
    }
    let batch = c
        .start_batch(
            Batch::new()
                .schedule(NewJob::new("hello", json!({})), Duration::from_secs(3600))
                .unwrap(),
        )
        .await
        .unwrap();
    let items = env.item_count().await;

    let job = || NewJob::new("hello", json!({}));
    let mut seen = BTreeMap::new();
    let mut refused = |case: &str, res: Result<(), Error>| {
        let e = res.expect_err(case);
        seen.insert(case.to_owned(), format!("{e:?} {}", error_chain(&e)));
    };
    refused(
        "L01",
        c.enqueue(NewJob::new("send email", json!({})))
            .await
            .map(drop),
    );
    refused("L02", c.enqueue(NewJob::new("", json!({}))).await.map(drop));
    refused("L03", c.enqueue(job().queue("Bad Queue")).await.map(drop));
    refused("L04", c.enqueue(job().queue("nosuchqueue")).await.map(drop));
    refused(
        "L05",
        c.enqueue(NewJob::new(
            "hello",
            json!({"blob": "x".repeat(130 * 1024)}),
        ))
        .await
        .map(drop),
    );
    refused(
        "L06",
        c.continue_with(&JobId::generate(), job(), ContinueOn::Succeeded)
            .await
            .map(drop),
    );
    refused(
        "L07",
        c.continue_with(&expired, job(), ContinueOn::Succeeded)
            .await
            .map(drop),
    );
    refused(
        "L08",
        c.continue_with(&full, job(), ContinueOn::Succeeded)
            .await
            .map(drop),
    );
    refused("L09", c.enqueue(job().retries(1000)).await.map(drop));
    refused(
        "L24",
        c.enqueue(job().retry(RetryPolicy {
            attempts: 3,
            delays_secs: vec![1; 51],
            ..RetryPolicy::default()
        }))
        .await
        .map(drop),
    );
    refused(
        "L10",
        c.enqueue(job().timeout(Duration::from_secs(8 * 86_400)))
            .await
            .map(drop),
    );
    refused(
        "L11",
        c.enqueue(job().timeout(Duration::ZERO)).await.map(drop),
    );
    refused("L12", JobId::parse("not an id!").map(drop));
    refused("L13", c.enqueue(job().id(parent.clone())).await.map(drop));
    refused(
        "L14",
        c.reschedule(&JobId::generate(), Duration::from_secs(5))
            .await
            .map(drop),
    );
    refused("L15", c.enqueue(job().concurrency("db", 0)).await.map(drop));
    refused(
        "L16",
        c.enqueue(job().rate("api", 5, Duration::ZERO))
            .await
            .map(drop),
    );
    refused(
        "L17",
        c.recurring()
            .add_or_update("nightly", job(), "61 * * * *", RecurringOptions::default())
            .await
            .map(drop),
    );
    refused(
        "L18",
        c.recurring()
            .add_or_update(
                "nightly",
                job(),
                "0 3 * * *",
                RecurringOptions::default().tz("Mars/Olympus"),
            )
            .await
            .map(drop),
    );
    refused("L19", c.start_batch(Batch::new()).await.map(drop));
    refused(
        "L20",
        c.continue_batch_with(&JobId::generate(), job(), ContinueOn::Succeeded)
            .await
            .map(drop),
    );
    refused(
        "L21",
        c.enqueue(job().param("bad name", "x")).await.map(drop),
    );
    refused(
        "L22",
        c.continue_with(&parent, job().ordered("acct-1"), ContinueOn::Succeeded)
            .await
            .map(drop),
    );
    refused("L23", c.pause_queue("nosuchqueue").await.map(drop));
    catalogue::check("L", &seen);
    // Nothing written, nothing sent.
    assert_eq!(env.item_count().await, items);
    let parent_now = env.job(&parent).await;
    assert!(parent_now.continuations.is_empty(), "{parent_now:?}");
    assert_eq!(
        env.job(&full).await.continuations.len(),
        hangar::job::MAX_CONTINUATIONS
    );
    assert!(c.batch(&batch).await.unwrap().is_some());
    assert_eq!(env.queue_depth("default").await.0, 0);
}

/// Succeeded, Failed or Deleted: nothing more happens on its own.
fn ended(state: State) -> bool {
    matches!(state, State::Succeeded | State::Failed | State::Deleted)
}
