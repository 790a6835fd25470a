//! The jobs through the API and their pages: listings by state with
//! signed cursors, one job and the actions on it, bulk actions, and what
//! a job's page shows of its parameters and limits.

use crate::common::{Api, error_of};
use axum::http::StatusCode;
use hangar::{NewJob, State};
use serde_json::json;

/// Listing by state pages by signed cursor; bad states, limits and cursors
/// are clear 400s.
#[tokio::test]
async fn listing_and_cursors() {
    let api = Api::new().await;
    let jobs: Vec<NewJob> = (0..7)
        .map(|n| NewJob::new("k", json!({ "n": n })))
        .collect();
    api.env.client.enqueue_many(jobs).await.unwrap();
    let (status, first) = api.get("/api/jobs?state=enqueued&limit=4").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["jobs"].as_array().unwrap().len(), 4);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = api
        .get(&format!("/api/jobs?state=enqueued&cursor={next}&limit=4"))
        .await;
    let mut ids: Vec<String> = first["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["jobs"].as_array().unwrap())
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(second["next"].is_null(), "{second}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);

    let (status, v) = api.get("/api/jobs?state=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("unknown state"), "{v}");
    let (status, v) = api.get("/api/jobs?state=failed&limit=201").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("limit"), "{v}");
    let (status, _) = api.get("/api/jobs").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v) = api.get(&format!("/api/jobs?cursor={next}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a cursor goes with its state"
    );
    assert!(error_of(&v).contains("state is required"), "{v}");
    let (status, v) = api
        .get(&format!("/api/jobs?state=failed&cursor={next}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&v).contains("listing of Enqueued jobs, not Failed"),
        "{v}"
    );
    let (status, v) = api.get("/api/jobs?state=enqueued&cursor=garbage").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("malformed"), "{v}");
    let forged = format!(
        "{}x.{}",
        &next[..next.find('.').unwrap()],
        &next[next.find('.').unwrap() + 1..]
    );
    let (status, v) = api
        .get(&format!("/api/jobs?state=enqueued&cursor={forged}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = api.get("/api/jobs?state=failed&since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("RFC 3339"), "{v}");
}

/// One job, and the actions on it; unknown and malformed ids, refused
/// transitions and bad bodies are clear errors that change nothing.
#[tokio::test]
async fn job_and_actions() {
    let api = Api::new().await;
    let id = api.failed_job(json!({"to": "a@example.com"})).await;
    let (status, v) = api.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["state"], "Failed");
    assert_eq!(v["args"]["to"], "a@example.com");
    assert!(v["history"].as_array().unwrap().len() >= 3);

    let (status, _) = api.get("/api/jobs/no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = api.get("/api/jobs/bad%20id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    let (status, v) = api
        .post(&format!("/api/jobs/{id}/requeue"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (StatusCode::OK, Some("Enqueued")),
        "{v}"
    );
    let (status, v) = api
        .post(&format!("/api/jobs/{id}/requeue"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an Enqueued job is not requeued: {v}"
    );

    let (status, v) = api
        .post(
            &format!("/api/jobs/{id}/reschedule"),
            json!({"delay_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(api.env.job(&id).await.state, State::Scheduled);
    let (status, v) = api
        .post(
            &format!("/api/jobs/{id}/reschedule"),
            json!({"when": "later"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = api
        .post(&format!("/api/jobs/{id}/reschedule"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A Scheduled job enqueued now.
    let (status, v) = api
        .post(&format!("/api/jobs/{id}/requeue"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (StatusCode::OK, Some("Enqueued")),
        "{v}"
    );

    let (status, v) = api.post(&format!("/api/jobs/{id}/delete"), json!({})).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (StatusCode::OK, Some("Deleted")),
        "{v}"
    );
    let (status, _) = api.post("/api/jobs/no-such-job/delete", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
/// Bulk actions on chosen ids (unknown ones refused and counted) and on a
/// whole state; oversize and malformed selections are 400s.
#[tokio::test]
async fn bulk_actions() {
    let api = Api::new().await;
    let a = api.failed_job(json!({"n": 1})).await;
    let b = api.failed_job(json!({"n": 2})).await;
    let (status, v) = api
        .post(
            "/api/jobs/bulk",
            json!({"action": "requeue", "ids": [a.as_str(), "no-such-job"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["done"], 1);
    assert_eq!(v["refused"][0]["id"], "no-such-job");
    assert_eq!(api.env.job(&a).await.state, State::Enqueued);

    let (status, v) = api
        .post(
            "/api/jobs/bulk",
            json!({"action": "delete", "state": "failed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["done"].as_u64(), v["more"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(api.env.job(&b).await.state, State::Deleted);

    let many: Vec<String> = (0..101).map(|i| format!("j{i}")).collect();
    let (status, v) = api
        .post("/api/jobs/bulk", json!({"action": "delete", "ids": many}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("1 to 100"), "{v}");
    for body in [
        json!({"action": "explode", "ids": ["a"]}),
        json!({"action": "delete"}),
        json!({"action": "delete", "ids": ["a"], "state": "failed"}),
        json!({"action": "delete", "ids": ["bad id"]}),
        json!({"action": "delete", "state": "failed", "limit": 5000}),
    ] {
        let (status, v) = api.post("/api/jobs/bulk", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    assert_eq!(
        api.env.job(&a).await.state,
        State::Enqueued,
        "nothing changed"
    );
}
/// A job's parameters and limits on its page, escaped; in the API's job.
#[tokio::test]
async fn job_page_shows_parameters_and_limits() {
    let api = Api::new().await;
    let id = api
        .env
        .client
        .enqueue(
            NewJob::new("k", json!({}))
                .param("tenant", "<script>alert(1)</script>")
                .rate("api", 5, std::time::Duration::from_secs(2))
                .concurrency("db", 3)
                .start_within(std::time::Duration::from_secs(90)),
        )
        .await
        .unwrap();
    let (_, page) = api.page(&format!("/job/{id}")).await;
    assert!(
        page.contains("Parameters") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("5 starts per 2 s"), "{page}");
    assert!(page.contains("at most 3 at once"), "{page}");
    assert!(page.contains("90 s of being enqueued"), "{page}");
}
