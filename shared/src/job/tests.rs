use chrono::Utc;

use super::*;
use crate::retry::RetryPolicy;

#[test]
fn ids_are_checked() {
    assert!(JobId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").is_ok());
    assert!(JobId::parse("rec:nightly:2026-11-24T00:00:00Z").is_ok());
    for bad in ["", "a b", "x/y", &"a".repeat(201)] {
        assert!(
            matches!(
                JobId::parse(bad),
                Err(Error::Invalid { what: "job id", .. })
            ),
            "{bad:?}"
        );
    }
    let a = JobId::generate();
    let b = JobId::generate();
    assert!(a < b, "v7 ids sort by creation time");
}

#[test]
fn queue_names() {
    for ok in [
        "default",
        "critical",
        "emailv2",
        "0",
        &"q".repeat(MAX_QUEUE_LEN),
    ] {
        validate_queue(ok).unwrap();
    }
    let too_long = "q".repeat(MAX_QUEUE_LEN + 1);
    for bad in ["", "Default", "a.b", "a b", "a-b", "email_v2", &too_long] {
        let err = validate_queue(bad).unwrap_err();
        assert!(err.to_string().contains("queue name"), "{err}");
    }
}

#[test]
fn oversized_args_are_refused_with_the_sizes() {
    let big = "x".repeat(MAX_ARGS_BYTES);
    let err = NewJob::new("k", serde_json::json!({ "blob": big }))
        .validate()
        .unwrap_err();
    match err {
        Error::PayloadTooLarge { size, limit } => {
            assert!(size > limit);
            assert_eq!(limit, MAX_ARGS_BYTES);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn retry_delays_are_bounded() {
    let with = |n: usize| {
        NewJob::new("k", serde_json::json!({}))
            .retry(RetryPolicy {
                delays_secs: vec![1; n],
                ..RetryPolicy::default()
            })
            .validate()
    };
    assert!(with(MAX_RETRY_DELAYS).is_ok());
    let err = with(MAX_RETRY_DELAYS + 1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Invalid {
                what: "retry policy",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncate_keeps_char_boundaries_and_marks_the_cut() {
    assert_eq!(truncate("short", 10), "short");
    let s = "é".repeat(100); // 200 bytes
    let t = truncate(&s, 50);
    assert!(t.len() <= 50, "{}", t.len());
    assert!(t.ends_with("…[truncated]"));
    assert!(t.starts_with('é'));
}

#[test]
fn history_data_is_bounded() {
    let e = HistoryEntry::new(State::Failed, Utc::now(), Some("r".repeat(5000)))
        .with("error_detail", "d".repeat(100_000))
        .with("error_message", "m".repeat(100_000));
    assert!(e.reason.as_ref().unwrap().len() <= MAX_REASON_BYTES);
    assert!(e.data["error_detail"].len() <= MAX_DETAIL_BYTES);
    assert!(e.data["error_message"].len() <= MAX_DATA_VALUE_BYTES);
    let e = e.with("error_type", "t".repeat(10_000));
    assert!(e.data["error_type"].len() <= MAX_SHORT_VALUE_BYTES);
}

#[test]
fn continuation_conditions() {
    use State::*;
    assert!(ContinueOn::Succeeded.is_met_by(Succeeded));
    assert!(!ContinueOn::Succeeded.is_met_by(Deleted));
    assert!(ContinueOn::AnyFinished.is_met_by(Deleted));
    assert!(ContinueOn::AnyFinished.is_met_by(Succeeded));
    assert!(!ContinueOn::AnyFinished.is_met_by(Failed));
}
