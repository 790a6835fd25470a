//! The admin API's cases of the bad-input catalogue (`docs/bad-input.md`).

use std::collections::BTreeMap;

use crate::common::{Api, TOKEN};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hangar::{JobId, State};
use hangar_admin::{Options, TOKEN_HEADER};
use serde_json::{Value, json};

/// The admin API's cases of the bad-input catalogue (`docs/bad-input.md`):
/// each answers with the status and the error the catalogue gives, and
/// changes nothing.
#[tokio::test]
async fn bad_input_catalogue() {
    let api = Api::new().await;
    let a = api.enqueued().await;
    api.enqueued().await;
    let (_, first) = api.get("/api/jobs?state=enqueued&limit=1").await;
    let next = first["next"].as_str().unwrap().to_owned();
    let dot = next.find('.').unwrap();
    let forged = format!("{}x.{}", &next[..dot], &next[dot + 1..]);
    let missing = JobId::generate();
    let items = api.env.item_count().await;

    let mut seen = BTreeMap::new();
    let mut saw = |case: &str, (status, body): (StatusCode, String)| {
        seen.insert(case.to_owned(), format!("{status}: {body}"));
    };
    let get = |uri: String| Request::get(uri).body(Body::empty()).unwrap();
    let post = |uri: String, body: &str| {
        Request::post(uri)
            .header("content-type", "application/json")
            .header(TOKEN_HEADER, TOKEN)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let bulk = |body: Value| post("/api/jobs/bulk".into(), &body.to_string());
    saw("A01", api.send(get(format!("/api/jobs/{missing}"))).await);
    saw(
        "A02",
        api.send(get("/api/jobs/not%20an%20id!".into())).await,
    );
    saw(
        "A03",
        api.send(get("/api/jobs?state=enqueued&cursor=garbage".into()))
            .await,
    );
    saw(
        "A04",
        api.send(get(format!("/api/jobs?state=enqueued&cursor={forged}")))
            .await,
    );
    saw(
        "A05",
        api.send(get("/api/jobs?state=sleeping".into())).await,
    );
    saw(
        "A06",
        api.send(get("/api/jobs?state=failed&limit=201".into()))
            .await,
    );
    saw("A07", api.send(get("/api/jobs".into())).await);
    saw(
        "A08",
        api.send(get("/api/jobs?state=failed&since=yesterday".into()))
            .await,
    );
    let many: Vec<String> = (0..101).map(|i| format!("j{i}")).collect();
    saw(
        "A09",
        api.send(bulk(json!({"action": "delete", "ids": many})))
            .await,
    );
    saw(
        "A10",
        api.send(bulk(json!({"action": "explode", "ids": [a.as_str()]})))
            .await,
    );
    saw(
        "A11",
        api.send(bulk(
            json!({"action": "delete", "ids": [a.as_str()], "state": "enqueued"}),
        ))
        .await,
    );
    saw(
        "A12",
        api.send(bulk(
            json!({"action": "delete", "state": "enqueued", "limit": 5000}),
        ))
        .await,
    );
    let delete = format!("/api/jobs/{a}/delete");
    saw("A13", api.send_with("POST", &delete, &[]).await);
    saw(
        "A14",
        api.send_with("POST", &delete, &[(TOKEN_HEADER, "wrong")])
            .await,
    );
    saw(
        "A15",
        api.send(post(format!("/api/jobs/{a}/reschedule"), "{not json"))
            .await,
    );
    saw(
        "A16",
        api.send(post(
            format!("/api/jobs/{a}/reschedule"),
            r#"{"delay": "soon"}"#,
        ))
        .await,
    );
    saw(
        "A17",
        api.send(post(format!("/api/jobs/{missing}/requeue"), "{}"))
            .await,
    );
    saw(
        "A18",
        api.send(post("/api/recurring/nope/trigger".into(), "{}"))
            .await,
    );
    saw(
        "A19",
        api.send(post("/api/recurring/nope/explode".into(), "{}"))
            .await,
    );
    saw("A20", api.send(get("/api/batches/nope".into())).await);
    saw(
        "A21",
        api.send(post("/api/queues/nosuchqueue/pause".into(), "{}"))
            .await,
    );
    saw("A22", api.send(get("/api/nope".into())).await);
    let gets = [
        ("A26", "/api/batches?limit=101".to_owned()),
        ("A27", format!("/api/batches/{a}?from=0")),
        ("A28", "/api/jobs?state=failed&limit=ten".to_owned()),
        ("A29", format!("/api/jobs?state=failed&cursor={next}")),
        ("A30", "/api/keys/two%20words".to_owned()),
        ("A31", "/api/queues/nosuchqueue/dead-letters".to_owned()),
        ("A38", "/api/jobs?state=failed&until=".to_owned()),
        ("A39", "/api/tags/has%20space".to_owned()),
    ];
    for (case, uri) in gets {
        saw(case, api.send(get(uri)).await);
    }
    saw("A32", api.send_with("PUT", "/api/stats", &[]).await);
    saw("A33", api.send_with("POST", "/api/stats", &[]).await);
    saw(
        "A34",
        api.send(post(
            format!("/api/jobs/{a}/reschedule"),
            r#"{"delay_seconds": 1e12}"#,
        ))
        .await,
    );
    saw(
        "A35",
        api.send(bulk(
            json!({"action": "delete", "ids": [a.as_str()], "limit": 1}),
        ))
        .await,
    );
    saw(
        "A36",
        api.send(bulk(
            json!({"action": "delete", "ids": null, "state": "enqueued"}),
        ))
        .await,
    );
    saw(
        "A37",
        api.send(
            Request::post(format!("/api/jobs/{a}/reschedule"))
                .header("content-type", "text/plain")
                .header(TOKEN_HEADER, TOKEN)
                .body(Body::from(r#"{"delay_seconds": 60}"#))
                .unwrap(),
        )
        .await,
    );
    saw("A23", api.send(get(format!("/job/{missing}"))).await);
    let ro = Api::with(Options {
        read_only: true,
        ..Options::default()
    })
    .await;
    let id = ro.enqueued().await;
    saw(
        "A24",
        ro.send_with(
            "POST",
            &format!("/api/jobs/{id}/delete"),
            &[(TOKEN_HEADER, "x")],
        )
        .await,
    );
    let local = Api::with(hangar_admin::local_options(8123)).await;
    saw(
        "A25",
        local
            .send(
                Request::get("/")
                    .header("host", "evil.example:8123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
    );
    hangar_integration_tests::catalogue::check("A", &seen);
    // Nothing changed.
    assert_eq!(api.env.item_count().await, items);
    assert_eq!(api.env.job(&a).await.state, State::Enqueued);
    assert_eq!(ro.env.job(&id).await.state, State::Enqueued);
}
