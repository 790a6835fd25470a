use chrono::{TimeZone, Utc};

use super::{parse_line, window};

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

#[test]
fn a_line_in_the_run_span_is_the_jobs() {
    let line = r#"{"level":"INFO","fields":{"message":"sent","to":"a@example.com","n":3},"target":"app::mail","span":{"attempt":2,"job":"j1","kind":"mail","name":"hangar.run"},"spans":[{"attempt":2,"job":"j1","kind":"mail","name":"hangar.run"}]}"#;
    let got = parse_line("j1", at(), "s", line).expect("the job's line");
    assert_eq!(got.level, "INFO");
    assert_eq!(got.message, "sent");
    assert_eq!(got.attempt, Some(2));
    assert_eq!(got.target, "app::mail");
    assert_eq!(
        got.fields,
        vec![
            ("n".to_owned(), "3".to_owned()),
            ("to".to_owned(), "a@example.com".to_owned())
        ]
    );
}

#[test]
fn a_line_naming_the_job_in_its_fields_is_the_jobs() {
    let line = r#"{"level":"INFO","fields":{"message":"job failed","job":"j1","state":"Scheduled"},"target":"hangar::worker::finish"}"#;
    let got = parse_line("j1", at(), "s", line).expect("the job's line");
    assert_eq!(got.message, "job failed");
    assert_eq!(got.attempt, None);
    assert_eq!(
        got.fields,
        vec![("state".to_owned(), "Scheduled".to_owned())]
    );
}

#[test]
fn another_jobs_line_that_mentions_the_id_is_not() {
    // A continuation's run logs its parent's id: a line of the child's.
    let line = r#"{"level":"INFO","fields":{"message":"parent was j1"},"span":{"job":"j2","name":"hangar.run"},"spans":[{"job":"j2","name":"hangar.run"}]}"#;
    assert_eq!(parse_line("j1", at(), "s", line), None);
    // An id that only starts like it.
    let line = r#"{"level":"INFO","fields":{"message":"x","job":"j10"}}"#;
    assert_eq!(parse_line("j1", at(), "s", line), None);
}

#[test]
fn a_plain_line_is_kept_whole_when_it_holds_the_id() {
    let got = parse_line("j1", at(), "s", "println from j1\n").expect("kept");
    assert_eq!(got.message, "println from j1");
    assert_eq!(got.level, "");
    assert_eq!(parse_line("j1", at(), "s", "REPORT RequestId: 1"), None);
    // Only the id as a whole: not batch member B.10's line on B.1's page.
    assert_eq!(parse_line("B.1", at(), "s", "println from B.10"), None);
    assert_eq!(parse_line("B.1", at(), "s", "xB.1 done"), None);
    assert!(parse_line("B.1", at(), "s", "B.1 done").is_some());
    assert!(parse_line("B.1", at(), "s", "job=\"B.1\"").is_some());
}

#[test]
fn the_window_runs_from_creation_to_the_last_change_of_a_final_job() {
    use crate::job::{HistoryEntry, JobOptions, JobRecord};
    use crate::state::State;
    let created = at();
    let mut job = JobRecord::new(
        crate::job::JobId::parse("j1").unwrap(),
        "k".into(),
        serde_json::json!({}),
        JobOptions::default(),
        HistoryEntry::new(State::Enqueued, created, None),
    );
    let later = created + chrono::Duration::minutes(5);
    // Not final: up to now.
    let (from, to) = window(&job, later);
    assert_eq!(from, created - chrono::Duration::minutes(1));
    assert_eq!(to, later + chrono::Duration::minutes(1));
    // Run an hour after its creation: from its run.
    let ran = created + chrono::Duration::hours(1);
    job.history
        .push(HistoryEntry::new(State::Processing, ran, None));
    let (from, _) = window(&job, ran);
    assert_eq!(from, ran - chrono::Duration::minutes(1));
    job.history.truncate(1);
    // Final: up to its last entry, whatever now is.
    job.state = State::Succeeded;
    let done = created + chrono::Duration::minutes(2);
    job.history
        .push(HistoryEntry::new(State::Succeeded, done, None));
    let (_, to) = window(&job, later + chrono::Duration::days(3));
    assert_eq!(to, done + chrono::Duration::minutes(1));
}

#[test]
fn a_cursor_is_the_window_and_the_token() {
    let (from, to, token) = super::parse_cursor("1000.2000.abc.def").unwrap();
    assert_eq!(
        (from.timestamp_millis(), to.timestamp_millis()),
        (1000, 2000)
    );
    assert_eq!(token, "abc.def");
    for bad in [
        "",
        "1000",
        "1000.2000",
        "1000.2000.",
        "x.2000.t",
        "3000.2000.t",
    ] {
        assert!(super::parse_cursor(bad).is_err(), "{bad:?}");
    }
}
