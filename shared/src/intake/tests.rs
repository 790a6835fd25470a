use super::*;

fn intake_of(body: &str) -> (Intake, Envelope) {
    match parse_message(body, None) {
        Message::Intake(i, e) => (*i, e),
        other => panic!("{body}: {other:?}"),
    }
}

fn invalid(body: &str) -> String {
    match parse_message(body, None) {
        Message::Invalid(r) => r,
        other => panic!("{body}: {other:?}"),
    }
}

const REQUEST: &str = r#"{"hangar_intake":1,"kind":"hello","args":{"name":"x"}}"#;

#[test]
fn plain_request() {
    let (i, e) = intake_of(REQUEST);
    assert_eq!(e, Envelope::Body);
    assert_eq!(i.kind, "hello");
    assert_eq!(i.args["name"], "x");
    let (i, _) = intake_of(r#"{"hangar_intake":1,"kind":"hello"}"#);
    assert_eq!(i.args, serde_json::json!({}));
}

#[test]
fn eventbridge_event_full_and_sparse() {
    let full = format!(
        r#"{{"version":"0","id":"e1","detail-type":"Order placed","source":"shop","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{REQUEST}}}"#
    );
    assert_eq!(intake_of(&full).1, Envelope::EventBridge);
    let sparse = format!(r#"{{"detail-type":"x","detail":{REQUEST}}}"#);
    assert_eq!(intake_of(&sparse).1, Envelope::EventBridge);
    assert!(invalid(r#"{"source":"shop","detail":{"orderId":1}}"#).contains("input transformer"));
}

#[test]
fn sns_notification_wrapping_a_request_or_an_event() {
    let sns = serde_json::json!({
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": REQUEST,
    })
    .to_string();
    assert_eq!(intake_of(&sns).1, Envelope::Sns);
    let minimal = serde_json::json!({"Type": "Notification", "Message": REQUEST}).to_string();
    assert_eq!(intake_of(&minimal).0.kind, "hello");
    let bad = serde_json::json!({"Type": "Notification", "Message": "plain text"}).to_string();
    assert!(invalid(&bad).contains("not JSON"));
}

#[test]
fn kind_attribute_takes_any_body() {
    match parse_message(r#"{"Records":[{"s3":{}}]}"#, Some("thumbnail")) {
        Message::Intake(i, Envelope::KindAttribute) => {
            assert_eq!(i.kind, "thumbnail");
            assert!(i.args["Records"].is_array());
        }
        other => panic!("{other:?}"),
    }
    match parse_message("plain text", Some("log")) {
        Message::Intake(i, _) => assert_eq!(i.args, Value::String("plain text".into())),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_message("{}", Some("bad kind!")),
        Message::Invalid(r) if r.contains("hangar-kind")
    ));
}

#[test]
fn hangar_fields_are_strict() {
    for (body, want) in [
        ("nope", "not JSON"),
        ("[]", "not an object"),
        (r#"{"kind":"hello"}"#, "neither"),
        (
            r#"{"hangar_intake":2,"kind":"hello"}"#,
            "unknown intake format version 2",
        ),
        (
            r#"{"hangar_intake":"1","kind":"hello"}"#,
            "unknown intake format version \"1\"",
        ),
        (r#"{"hangar_intake":1}"#, "missing field `kind`"),
        (
            r#"{"hangar_intake":1,"kind":"hello","delay":5}"#,
            "unknown field `delay`",
        ),
        (
            r#"{"hangar_intake":1,"kind":"hello","args":{},"delay_seconds":-1}"#,
            "delay_seconds",
        ),
        (
            r#"{"hangar_intake":1,"kind":"hello","delay_seconds":1,"run_at":"2030-01-01T00:00:00Z"}"#,
            "not both",
        ),
        (
            r#"{"hangar_intake":1,"kind":"hello","run_at":"tomorrow"}"#,
            "run_at",
        ),
        (
            r#"{"hangar_intake":1,"kind":"hello","queue":"Bad Q"}"#,
            "queue",
        ),
        (
            r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"a b"}"#,
            "idempotency_key",
        ),
        (r#"{"hangar_intake":1,"kind":""}"#, "kind"),
    ] {
        let reason = invalid(body);
        assert!(reason.contains(want), "{body}: {reason}");
    }
}

#[test]
fn ids_come_from_the_key_or_the_message() {
    let (i, _) = intake_of(r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"order-42"}"#);
    assert_eq!(i.job_id("m1").as_str(), "idem-order-42");
    assert_eq!(i.job_id("m2").as_str(), "idem-order-42");
    let (i, _) = intake_of(REQUEST);
    assert_eq!(i.job_id("m1").as_str(), "msg-m1");
}

#[test]
fn wake_ups_still_parse() {
    let w = WakeUp::new(JobId::generate(), 3, crate::State::Enqueued);
    assert_eq!(parse_message(&w.to_body(), None), Message::WakeUp(w));
}
