//! Traces from enqueue to run: the creating span's context travels with
//! the job and the run's span links to it (seen by OpenTelemetry's
//! in-memory exporter); an intake request's context comes from its
//! `traceparent` field or attribute.

use std::time::Duration;

use hangar::{NewJob, State, TraceParent};
use hangar_integration_tests::TestEnv;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::*;

#[tokio::test]
async fn a_run_links_to_the_span_its_job_was_created_in() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("hangar-test")));
    // The test's runtime is one thread: the subscriber sees the worker's
    // spawned runs too.
    let _default = tracing::subscriber::set_default(subscriber);
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));

    let (id, created_in) = async {
        let cx = tracing::Span::current().context();
        let created_in = cx.span().span_context().clone();
        let id = env.client.enqueue(&Ok1 { n: 1 }).await.unwrap();
        (id, created_in)
    }
    .instrument(tracing::info_span!("checkout"))
    .await;
    assert!(created_in.is_valid());
    let job = env.job(&id).await;
    let stored = job
        .trace
        .clone()
        .expect("the creating span's context is stored");
    assert_eq!(stored.trace_id(), created_in.trace_id().to_string());
    assert_eq!(stored.span_id(), created_in.span_id().to_string());
    env.drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
        .await;
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let run = spans
        .iter()
        .find(|s| s.name == "hangar.run")
        .unwrap_or_else(|| {
            panic!(
                "a run span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    let linked: Vec<(TraceId, SpanId)> = run
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(linked, vec![(created_in.trace_id(), created_in.span_id())]);
    // A link, not a parent: the run is its own trace.
    assert_ne!(run.span_context.trace_id(), created_in.trace_id());
    assert!(
        run.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "job" && kv.value.as_str() == id.as_str()),
        "{:?}",
        run.attributes
    );
    // Outside any span, a job carries no context and its run no link.
    let plain = env.client.enqueue(&Ok1 { n: 2 }).await.unwrap();
    assert_eq!(env.job(&plain).await.trace, None);
}

#[tokio::test]
async fn an_intake_request_brings_its_trace_context() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let in_body = env
        .send_raw(
            "default",
            &json!({"hangar_intake": 1, "kind": "ok", "args": {"n": 1}, "traceparent": tp})
                .to_string(),
        )
        .await;
    let url = env.config.queue_urls["default"].clone();
    let in_attribute = env
        .sqs
        .send_message()
        .queue_url(&url)
        .message_body(json!({"hangar_intake": 1, "kind": "ok", "args": {"n": 2}}).to_string())
        .message_attributes(
            "traceparent",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(tp)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let bad = env
        .send_raw(
            "default",
            &json!({"hangar_intake": 1, "kind": "ok", "args": {}, "traceparent": "00-xyz"})
                .to_string(),
        )
        .await;
    while poller.poll_once().await.unwrap() > 0 {}
    let job = |m: &str| {
        let id = hangar::JobId::parse(format!("msg-{m}")).unwrap();
        let env = &env;
        async move { env.job(&id).await }
    };
    let want = Some(TraceParent::parse(tp).unwrap());
    assert_eq!(job(&in_body).await.trace, want);
    assert_eq!(job(&in_attribute).await.trace, want);
    let refused = job(&bad).await;
    assert_eq!(refused.state, State::Failed);
    assert!(
        refused
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("traceparent"),
        "{:?}",
        refused.last_error
    );
    // The client's own: an explicit context, shown in the job's JSON.
    let id = env
        .client
        .enqueue(
            NewJob::of(&Ok1 { n: 3 })
                .unwrap()
                .traceparent(TraceParent::parse(tp).unwrap()),
        )
        .await
        .unwrap();
    let shown = hangar::json::JobJson::from(&env.job(&id).await);
    assert_eq!(shown.traceparent.as_deref(), Some(tp));
}
