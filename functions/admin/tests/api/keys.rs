//! A concurrency key through the API and its page.

use crate::common::Api;
use axum::http::StatusCode;
use hangar::NewJob;
use serde_json::json;

/// A concurrency key through the API and its page, reached from a job's
/// page whatever characters the key holds.
#[tokio::test]
async fn key_api_and_page() {
    let api = Api::new().await;
    let key = "db/eu#1";
    api.env
        .client
        .take_slot_for_test(
            key,
            2,
            "01a217de-b193-759a-a22b-8c3fbd75c508",
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let id = api
        .env
        .client
        .enqueue(NewJob::new("k", json!({})).concurrency(key, 2))
        .await
        .unwrap();
    let (_, page) = api.page(&format!("/job/{id}")).await;
    assert!(page.contains(r#"href="/keys/db%2Feu%231""#), "{page}");
    let (status, k) = api.get("/api/keys/db%2Feu%231").await;
    assert_eq!(status, StatusCode::OK, "{k}");
    assert_eq!(k["limit"], 2);
    assert_eq!(k["live"].as_array().unwrap().len(), 1, "{k}");
    let (status, page) = api.page("/keys/db%2Feu%231").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("db/eu#1") && page.contains("/job/01a217de-b193-759a-a22b-8c3fbd75c508"),
        "{page}"
    );
}
