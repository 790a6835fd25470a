//! A tag's jobs through the API and its page, reached from a job's page
//! and from the search box.

use crate::common::{Api, error_of, ids};
use axum::http::StatusCode;
use hangar::{NewJob, State};
use serde_json::json;

#[tokio::test]
async fn a_tags_jobs_through_the_api_and_its_page() {
    let api = Api::new().await;
    let client = &api.env.client;
    let mut tagged = Vec::new();
    for n in 0..5 {
        let job = NewJob::new("t.job", json!({ "n": n })).tag("customer:42");
        tagged.push(client.enqueue(job).await.unwrap().to_string());
    }
    let other = client
        .enqueue(NewJob::new("t.job", json!({})).tag("customer:7"))
        .await
        .unwrap();
    // One of the five is deleted: listed in every state, and as Deleted.
    client
        .delete(&hangar::JobId::parse(tagged[2].clone()).unwrap())
        .await
        .unwrap();
    tagged.reverse(); // newest first

    let (status, page) = api.get("/api/tags/customer:42").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["tag"], "customer:42");
    assert_eq!(ids(&page), tagged);
    assert_eq!(page["read"], 5);
    // An empty state (the tag page's "Any") is every state.
    let (status, any) = api.get("/api/tags/customer:42?state=").await;
    assert_eq!((status, ids(&any)), (StatusCode::OK, tagged.clone()));
    let (_, deleted) = api.get("/api/tags/customer:42?state=deleted").await;
    assert_eq!(ids(&deleted), vec![tagged[2].clone()]);
    assert_eq!(deleted["read"], 5, "read all, listed one");
    // Pages of two, the cursor signed and bound to its state.
    let (mut seen, mut uri) = (Vec::new(), "/api/tags/customer:42?limit=2".to_owned());
    loop {
        let (status, page) = api.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => uri = format!("/api/tags/customer:42?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, tagged);
    let (_, first) = api.get("/api/tags/customer:42?limit=2").await;
    let next = first["next"].as_str().unwrap();
    let (status, e) = api
        .get(&format!("/api/tags/customer:42?state=failed&cursor={next}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&e).contains("another state"), "{e}");
    let (status, e) = api
        .get(&format!("/api/tags/customer:7?limit=2&cursor={next}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another tag's cursor: {e}");
    let (status, e) = api.get("/api/tags/customer:42?cursor=made.up").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, e) = api.get("/api/tags/has%20space").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&e).contains("tag"), "{e}");
    // The job's JSON carries its tags.
    let (_, job) = api.get(&format!("/api/jobs/{other}")).await;
    assert_eq!(job["tags"], json!(["customer:7"]));
    // And its trace context, shown on its page.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = client
        .enqueue(
            NewJob::new("t.job", json!({})).traceparent(hangar::TraceParent::parse(tp).unwrap()),
        )
        .await
        .unwrap();
    let (_, job) = api.get(&format!("/api/jobs/{traced}")).await;
    assert_eq!(job["traceparent"], tp);
    let (_, page) = api.page(&format!("/job/{traced}")).await;
    assert!(
        page.contains(&format!(r#"<code class="trace">{tp}</code>"#)),
        "{page}"
    );

    // The job page links its tags; the tag's page lists its jobs, with
    // their states.
    let (_, page) = api.page(&format!("/job/{}", tagged[0])).await;
    assert!(page.contains(r#"href="/tags/customer%3A42""#), "{page}");
    let (status, page) = api.page("/tags/customer%3A42").await;
    assert_eq!(status, StatusCode::OK);
    for id in &tagged {
        assert!(page.contains(&format!("/job/{id}")), "{id} listed");
    }
    assert!(!page.contains(&format!("/job/{other}")));
    assert!(page.contains(State::Deleted.as_str()));
    // The search box: a tag that is no job's id opens the tag's page; a
    // job's id, the job.
    assert_eq!(
        location(&api, "/search?id=customer%3A42").await,
        "/tags/customer%3A42"
    );
    assert_eq!(
        location(&api, &format!("/search?id={other}")).await,
        format!("/job/{other}")
    );
}

/// Where a GET is redirected.
async fn location(api: &Api, uri: &str) -> String {
    use tower::ServiceExt;
    let req = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{uri}");
    resp.headers()["location"].to_str().unwrap().to_owned()
}
