//! Who may change what: the session token, read-only mode, the host check
//! of a local server, and what a `hangar dashboard` proxy's headers narrow.

use crate::common::{Api, TOKEN, error_of};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hangar::State;
use hangar_admin::{Options, PROXY_READ_ONLY_HEADER, PROXY_TOKEN_HEADER, TOKEN_HEADER};
use serde_json::json;

/// A state-changing request without the session token, or to a read-only
/// dashboard, is refused and changes nothing.
#[tokio::test]
async fn token_and_read_only() {
    let api = Api::new().await;
    let id = api.enqueued().await;
    let delete = format!("/api/jobs/{id}/delete");
    for headers in [&[][..], &[(TOKEN_HEADER, "wrong")]] {
        let (status, body) = api.send_with("POST", &delete, headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains(TOKEN_HEADER), "{body}");
    }
    assert_eq!(api.env.job(&id).await.state, State::Enqueued);

    let ro = Api::with(Options {
        read_only: true,
        ..Options::default()
    })
    .await;
    let id = ro.enqueued().await;
    let (status, v) = ro.post(&format!("/api/jobs/{id}/delete"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_of(&v).contains("read-only"), "{v}");
    assert_eq!(ro.env.job(&id).await.state, State::Enqueued);
    let (_, page) = ro.page(&format!("/job/{id}")).await;
    assert!(
        !page.contains("data-post=\""),
        "no action buttons when read-only"
    );

    // A local server answers only as its own host.
    let local = Api::with(hangar_admin::local_options(8123)).await;
    let (status, _) = local
        .send(
            Request::get("/")
                .header("host", "evil.example:8123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = local
        .send(
            Request::get("/queues")
                .header("host", "127.0.0.1:8123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// What a `hangar dashboard` proxy adds can only narrow: its read-only
/// header refuses state changes even with the right token, and its token
/// header does not replace a server's own session token.
#[tokio::test]
async fn proxy_headers_only_narrow() {
    let api = Api::new().await;
    let id = api.enqueued().await;
    let delete = format!("/api/jobs/{id}/delete");
    let read_only = [(TOKEN_HEADER, TOKEN), (PROXY_READ_ONLY_HEADER, "1")];
    let forged = [(TOKEN_HEADER, "mine"), (PROXY_TOKEN_HEADER, "mine")];
    for headers in [&read_only, &forged] {
        let (status, body) = api.send_with("POST", &delete, headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
    }
    assert_eq!(api.env.job(&id).await.state, State::Enqueued);
    let (_, page) = api
        .send_with("GET", "/", &[(PROXY_TOKEN_HEADER, "mine")])
        .await;
    assert!(page.contains(&format!("content=\"{TOKEN}\"")), "{page}");

    // Without a token of its own (in Lambda) the pages carry the proxy's.
    let lambda = Api::with(Options::default()).await;
    let proxied = [
        (PROXY_TOKEN_HEADER, "abc123"),
        (PROXY_READ_ONLY_HEADER, "1"),
    ];
    let (_, page) = lambda.send_with("GET", "/", &proxied).await;
    assert!(page.contains("content=\"abc123\""), "{page}");
    assert!(page.contains("Read-only"), "{page}");
}
