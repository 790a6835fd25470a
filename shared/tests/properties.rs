//! Property tests of the parsers that take outside input: SQS message
//! bodies (wake-ups, job and batch requests, their AWS envelopes), cron
//! expressions and time zones. None may panic, whatever the input; what
//! Hangar writes itself reads back the same; and whatever a parser accepts
//! is valid by the rules the client applies.

use hangar::cron::Schedule;
use hangar::intake::{Message, parse_message};
use hangar::message::{Body, OrderSlot, WakeUp, parse_body};
use hangar::{JobId, State};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, nested up to a few levels, with the field names the
/// parsers look for over-represented so that their paths are reached.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("hangar".to_owned()),
        Just("hangar_intake".to_owned()),
        Just("hangar_batch".to_owned()),
        Just("kind".to_owned()),
        Just("args".to_owned()),
        Just("queue".to_owned()),
        Just("delay_seconds".to_owned()),
        Just("run_at".to_owned()),
        Just("retries".to_owned()),
        Just("timeout_seconds".to_owned()),
        Just("jobs".to_owned()),
        Just("continuations".to_owned()),
        Just("on".to_owned()),
        Just("job".to_owned()),
        Just("v".to_owned()),
        Just("detail".to_owned()),
        Just("detail-type".to_owned()),
        Just("Type".to_owned()),
        Just("Message".to_owned()),
        Just("concurrency".to_owned()),
        Just("rate".to_owned()),
        Just("params".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from(1)),
        "\\PC{0,20}".prop_map(Value::from),
        Just(Value::from("Notification")),
        Just(Value::from("hello")),
        Just(Value::from("2026-01-01T00:00:00Z")),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a parse result must satisfy: accepted requests pass the client's
/// rules.
fn check(message: &Message) {
    match message {
        Message::Intake(i, _) => i.validate().expect("an accepted request is valid"),
        Message::Batch(b, _) => {
            assert!(!b.jobs.is_empty());
            for j in b.jobs.iter().chain(b.continuations.iter().map(|(j, _)| j)) {
                j.validate().expect("an accepted batch job is valid");
            }
        }
        Message::WakeUp(w) => {
            JobId::parse(w.job.as_str()).expect("an accepted wake-up names a valid id");
        }
        Message::Invalid(reason) => assert!(!reason.is_empty()),
    }
}

fn wake_up() -> impl Strategy<Value = WakeUp> {
    (
        "[A-Za-z0-9._:-]{1,200}",
        any::<u64>(),
        prop::option::of(prop_oneof![Just(State::Enqueued), Just(State::Scheduled)]),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<i64>()),
        prop::option::of(("[!-~]{1,128}", any::<u64>())),
    )
        .prop_map(|(id, v, state, timeout_s, slot, order)| {
            let mut w = WakeUp::new(JobId::parse(id).unwrap(), v, State::Enqueued);
            w.state = state;
            w.timeout_s = timeout_s;
            w.slot = slot;
            w.order = order.map(|(key, seq)| OrderSlot { key, seq });
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_text_body_is_classified_without_panicking(body in "\\PC{0,300}", attr in prop::option::of("\\PC{0,40}")) {
        let message = parse_message(&body, attr.as_deref());
        check(&message);
        let _ = parse_body(&body);
    }

    #[test]
    fn any_json_body_is_classified_without_panicking(value in json_value()) {
        let body = value.to_string();
        check(&parse_message(&body, None));
        // The same value inside each AWS envelope.
        let sns = json!({"Type": "Notification", "Message": body});
        check(&parse_message(&sns.to_string(), None));
        let events = json!({"source": "app", "detail-type": "x", "detail": value});
        check(&parse_message(&events.to_string(), None));
    }

    #[test]
    fn wake_ups_read_back_as_written(w in wake_up()) {
        prop_assert_eq!(parse_body(&w.to_body()), Body::WakeUp(w.clone()));
        prop_assert_eq!(parse_message(&w.to_body(), None), Message::WakeUp(w));
    }

    #[test]
    fn cron_parsing_never_panics(expr in "[0-9*/,\\-A-Za-z@? #LW]{0,40}", tz in "\\PC{0,30}") {
        let _ = Schedule::parse(&expr, &tz);
        let _ = hangar::cron::parse_tz(&tz);
    }

    #[test]
    fn accepted_cron_expressions_give_increasing_times(
        minute in 0u32..60, hour in prop::option::of(0u32..24), step in 1u32..30,
        zone in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/New_York"), Just("Asia/Kolkata")],
        after_s in 1_600_000_000i64..2_000_000_000,
    ) {
        let hour = hour.map_or("*".to_owned(), |h| h.to_string());
        for expr in [format!("{minute} {hour} * * *"), format!("*/{step} * * * *")] {
            let schedule = Schedule::parse(&expr, zone).unwrap();
            let after = chrono::DateTime::from_timestamp(after_s, 0).unwrap();
            let times = schedule.upcoming(after, 5);
            prop_assert_eq!(times.len(), 5, "{}", expr);
            prop_assert!(times[0] > after);
            prop_assert!(times.windows(2).all(|w| w[0] < w[1]), "{} {:?}", expr, times);
        }
    }
}

/// Nesting far past serde_json's recursion limit is refused, not a stack
/// overflow.
#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(parse_message(&deep, None), Message::Invalid(r) if r.contains("not JSON")));
    let args = format!(
        "{{\"hangar_intake\":1,\"kind\":\"k\",\"args\":{}{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    assert!(matches!(parse_message(&args, None), Message::Invalid(_)));
}
