//! What the API and the dashboard show where the stored bookkeeping is not
//! what a person means: jobs waiting for a key's slot are Enqueued jobs,
//! and a recurring job's last run is the last occurrence that came due,
//! not one fired ahead.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{get, get_json};
use hangar::{ManualClock, NewJob, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::json;

/// Four jobs under `db=1` with its slot held: the API lists and counts them
/// as Enqueued, each naming its key; the key's answer lists them a page at
/// a time; the Enqueued page and the key page show them.
#[tokio::test]
async fn waiting_jobs_show_as_enqueued_everywhere() {
    let env = TestEnv::new().await;
    let client = &env.client;
    let ids: Vec<String> = env
        .jobs_waiting_on("db", 4)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let router =
        hangar_admin::Admin::new(client.clone(), hangar_admin::Options::default()).router();

    let listed = get_json(&router, "/api/jobs?state=enqueued").await;
    let jobs = listed["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4, "{listed}");
    assert!(jobs.iter().all(|j| j["waiting_for"] == "db"), "{listed}");
    let stats = get_json(&router, "/api/stats").await;
    assert_eq!(stats["states"]["enqueued"], 4, "{}", stats["states"]);

    let key = get_json(&router, "/api/keys/db?limit=3").await;
    let first: Vec<&str> = key["waiting_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, ids[..3], "oldest first: {key}");
    let next = key["next_cursor"]
        .as_str()
        .expect("a cursor for the fourth");
    let more = get_json(&router, &format!("/api/keys/db?limit=3&cursor={next}")).await;
    assert_eq!(more["waiting_jobs"][0]["id"], ids[3].as_str(), "{more}");
    assert!(more["next_cursor"].is_null());
    let (status, _) = get(&router, "/api/keys/db?cursor=made-up.cursor").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, page) = get(&router, "/jobs/enqueued").await;
    for id in &ids {
        assert!(
            page.contains(&format!("/job/{id}")),
            "{id} on the Enqueued page"
        );
    }
    assert_eq!(page.matches("waiting for ").count(), 4, "{page}");
    let (_, page) = get(&router, "/keys/db").await;
    for id in &ids {
        assert!(
            page.contains(&format!("/job/{id}")),
            "{id} on the key's page"
        );
    }
}

/// An every-minute job fired ahead by a tick: its last run is the
/// occurrence that came due (with its job's state), not the last one fired
/// ahead; its next run is the next occurrence after now.
#[tokio::test]
async fn a_recurring_jobs_last_run_is_the_last_occurrence_due() {
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-06-01T10:00:30Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = ManualClock::new(t0);
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let client = &env.client;
    client
        .recurring()
        .add_or_update(
            "minutely",
            NewJob::new("w", json!({})),
            "* * * * *",
            hangar::RecurringOptions::default(),
        )
        .await
        .unwrap();
    let timer = Timer::new(client);
    timer.tick(Duration::from_secs(30)).await.unwrap();
    let router =
        hangar_admin::Admin::new(client.clone(), hangar_admin::Options::default()).router();

    let rows = get_json(&router, "/api/recurring").await;
    let row = &rows[0];
    let fired_ahead = row["last_run"].as_str().unwrap();
    assert_eq!(fired_ahead, "2026-06-01T10:02:00Z", "fired ahead: {row}");
    assert!(row["last_started"].is_null(), "nothing came due yet: {row}");
    assert_eq!(row["next_occurrence"], "2026-06-01T10:01:00Z", "{row}");
    let (_, page) = get(&router, "/recurring").await;
    assert!(page.contains("not yet"), "{page}");
    assert!(!page.contains("2026-06-01T10:02:00"), "{page}");

    clock.set(t0 + chrono::Duration::seconds(50));
    let rows = get_json(&router, "/api/recurring").await;
    let last = &rows[0]["last_started"];
    assert_eq!(last["occurrence"], "2026-06-01T10:01:00Z", "{last}");
    assert_eq!(last["job_id"], "minutely:20260601T100100Z", "{last}");
    assert_eq!(
        last["state"],
        State::Scheduled.as_str(),
        "due, not yet claimed: {last}"
    );
    assert_eq!(rows[0]["next_occurrence"], "2026-06-01T10:02:00Z");
    let (_, page) = get(&router, "/recurring").await;
    assert!(
        page.contains("/job/minutely:20260601T100100Z")
            && page.contains("2026-06-01T10:01:00.000Z"),
        "{page}"
    );
}
