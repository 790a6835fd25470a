//! The admin function's IAM policy in the templates against the AWS calls
//! its routes and actions make.

use crate::common::Api;
use axum::http::StatusCode;
use hangar::{NewJob, RecurringOptions};
use serde_json::json;

/// The admin function's policy in the template grants exactly what its code
/// calls, over every route and action; its Function URL takes only signed
/// requests.
#[tokio::test]
async fn policy_grants_exactly_what_the_admin_calls() {
    use hangar_integration_tests::template::{Deploy, granted, needed};
    let api = Api::new().await;
    let failed = api.failed_job(json!({})).await;
    let other = api.failed_job(json!({})).await;
    api.env
        .client
        .recurring()
        .add_or_update(
            "r",
            NewJob::new("k", json!({})),
            "0 3 * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    // Two dead letters: one moved back (the other, received on the way, made
    // visible again), then the other deleted.
    let dead = api.dead_letters(&["a", "b"]).await;
    // A tag pointer whose job never came to be, two hours old: a listing
    // of its tag deletes it.
    api.env
        .put_tag_pointer("orphan:1", "never-made", chrono::Duration::hours(2))
        .await;
    api.env.calls.reset();
    for uri in [
        "/api/stats".to_owned(),
        "/api/jobs?state=failed".to_owned(),
        format!("/api/jobs/{failed}"),
        format!("/api/jobs/{failed}/logs"),
        "/api/recurring".to_owned(),
        "/api/queues".to_owned(),
        "/".to_owned(),
        format!("/job/{failed}"),
        "/jobs/failed".to_owned(),
        "/recurring".to_owned(),
        "/api/queues/default/dead-letters".to_owned(),
        "/queues/default".to_owned(),
        "/api/tags/orphan:1".to_owned(),
    ] {
        let (status, v) = api.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    }
    for (uri, body) in [
        (format!("/api/jobs/{failed}/requeue"), json!({})),
        (
            format!("/api/jobs/{failed}/reschedule"),
            json!({"delay_seconds": 60}),
        ),
        (format!("/api/jobs/{failed}/delete"), json!({})),
        (
            "/api/jobs/bulk".to_owned(),
            json!({"action": "requeue", "ids": [other.as_str()]}),
        ),
        (
            "/api/jobs/bulk".to_owned(),
            json!({"action": "delete", "state": "enqueued"}),
        ),
        ("/api/recurring/r/trigger".to_owned(), json!({})),
        ("/api/recurring/r/disable".to_owned(), json!({})),
        ("/api/recurring/r/enable".to_owned(), json!({})),
        ("/api/recurring/r/remove".to_owned(), json!({})),
        (
            "/api/queues/default/redrive".to_owned(),
            json!({"ids": [dead[1]]}),
        ),
        (
            "/api/queues/default/dead-letters/delete".to_owned(),
            json!({"ids": [dead[0]]}),
        ),
    ] {
        let (status, v) = api.post(&uri, body).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    }
    let calls = api.env.calls.counts();
    let mut want = needed(&calls);
    want.insert("sqs:GetQueueUrl".to_owned());
    for deploy in Deploy::ALL {
        assert_eq!(
            granted(&deploy.template(), "admin"),
            want,
            "{deploy:?}: the policy (left) should grant what the admin calls (right), from {calls:?}"
        );
    }
}
