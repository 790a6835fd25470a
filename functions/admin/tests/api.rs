//! The admin router against the emulator: every JSON route and action, bad
//! input included, and the pages (escaping what they show).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hangar::{JobId, NewJob, RecurringOptions, State};
use hangar_admin::{Admin, Options, PROXY_READ_ONLY_HEADER, PROXY_TOKEN_HEADER, TOKEN_HEADER};
use hangar_integration_tests::TestEnv;
use http_body_util::BodyExt;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use tower::ServiceExt;

struct Api {
    env: TestEnv,
    router: axum::Router,
}

const TOKEN: &str = "t0ken";

impl Api {
    async fn new() -> Self {
        Self::with(Options {
            token: Some(TOKEN.into()),
            ..Options::default()
        })
        .await
    }

    async fn with(options: Options) -> Self {
        let env = TestEnv::new().await;
        let router = Admin::new(env.client.clone(), options).router();
        Api { env, router }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, String) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A request with these headers and no body.
    async fn send_with(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A fresh Enqueued job.
    async fn enqueued(&self) -> JobId {
        self.env
            .client
            .enqueue(NewJob::new("k", json!({})))
            .await
            .unwrap()
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    async fn page(&self, uri: &str) -> (StatusCode, String) {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(uri)
            .header("content-type", "application/json")
            .header(TOKEN_HEADER, TOKEN)
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, body) = self.send(req).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Puts messages straight into the default queue's dead-letter queue, as
    /// SQS does after too many receives; returns their message ids.
    async fn dead_letters(&self, bodies: &[&str]) -> Vec<String> {
        let dlq = self.env.dlq_url("default").await;
        let mut ids = Vec::new();
        for body in bodies {
            let out = self
                .env
                .sqs
                .send_message()
                .queue_url(&dlq)
                .message_body(*body)
                .send()
                .await
                .unwrap();
            ids.push(out.message_id.unwrap());
        }
        ids
    }

    /// A job that ran and Failed (no retries).
    async fn failed_job(&self, args: Value) -> JobId {
        let id = self
            .env
            .client
            .enqueue(NewJob::new("unknown-kind", args).retries(0))
            .await
            .unwrap();
        let poller = self.env.poller(hangar::Registry::new());
        self.env
            .drive_to(
                &poller,
                &id,
                State::Failed,
                std::time::Duration::from_secs(15),
            )
            .await;
        id
    }
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// Stats: counts per state and the queues, dead-letter queue included.
#[tokio::test]
async fn stats() {
    let api = Api::new().await;
    // More Enqueued jobs than the counts read: the Active bucket is split by
    // the queue depths, read once for the whole response.
    let jobs: Vec<NewJob> = (0..60)
        .map(|n| NewJob::new("k", json!({ "n": n })))
        .collect();
    api.env.client.enqueue_many(jobs).await.unwrap();
    api.env.calls.reset();
    let (status, v) = api.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        api.env.calls.count("GetQueueAttributes"),
        2,
        "default and its dead-letter queue, once each"
    );
    assert_eq!(v["states"]["enqueued"], 60);
    assert!(
        v["estimated"]
            .as_array()
            .unwrap()
            .contains(&json!("enqueued"))
    );
    assert_eq!(v["states"]["failed"], 0);
    let names: Vec<&str> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "default-dlq"]);
}

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

/// Recurring jobs: listed with their last job's state; trigger, disable,
/// enable, remove; unknown ones and actions are refused.
#[tokio::test]
async fn recurring() {
    let api = Api::new().await;
    api.env
        .client
        .recurring()
        .add_or_update(
            "nightly",
            NewJob::new("k", json!({})),
            "0 3 * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    let (status, v) = api.post("/api/recurring/nightly/trigger", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let job = v["job"].as_str().unwrap().to_owned();
    let (_, list) = api.get("/api/recurring").await;
    assert_eq!(list[0]["id"], "nightly");
    assert_eq!(list[0]["last_job_id"], job.as_str());
    assert_eq!(list[0]["last_job_state"], "Enqueued");
    assert_eq!(list[0]["cron"], "0 3 * * *");

    let (status, _) = api.post("/api/recurring/nightly/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = api.get("/api/recurring").await;
    assert_eq!(list[0]["enabled"], false);
    let (status, _) = api.post("/api/recurring/nightly/enable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = api.post("/api/recurring/nightly/explode", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = api.post("/api/recurring/nightly/remove", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/api/recurring/nightly/remove", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post("/api/recurring/bad%20id/trigger", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The pages render, and show user data as text: a job whose arguments and
/// error hold markup shows it escaped.
#[tokio::test]
async fn pages_escape_what_they_show() {
    let api = Api::new().await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let id = api.failed_job(json!({ "note": evil })).await;
    let (status, page) = api.page(&format!("/job/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("hangar::UnknownKind"), "the error is shown");

    for uri in [
        "/",
        "/jobs/failed",
        "/jobs/processing",
        "/recurring",
        "/queues",
        "/metrics",
    ] {
        let (status, page) = api.page(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        assert!(page.contains("<title>"), "{uri}");
    }
    let (_, overview) = api.page("/").await;
    assert!(overview.contains("Finished per minute") && overview.contains("<svg"));
    let (_, failed) = api.page("/jobs/failed").await;
    // A time window that holds the job, and one that does not.
    let (_, within) = api
        .page("/jobs/failed?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z")
        .await;
    assert!(within.contains(id.as_str()));
    let (_, before) = api.page("/jobs/failed?until=2020-01-01T00:00:00Z").await;
    assert!(!before.contains(&format!("/job/{id}")), "{before}");
    assert!(failed.contains(id.as_str()));
    let (status, page) = api.page("/jobs/sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown state"));
    let resp = api
        .router
        .clone()
        .oneshot(
            Request::get(format!("/search?id={id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], format!("/job/{id}").as_str());
    let (status, _) = api.page("/job/no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

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
    api.env.calls.reset();
    for uri in [
        "/api/stats".to_owned(),
        "/api/jobs?state=failed".to_owned(),
        format!("/api/jobs/{failed}"),
        "/api/recurring".to_owned(),
        "/api/queues".to_owned(),
        "/".to_owned(),
        format!("/job/{failed}"),
        "/jobs/failed".to_owned(),
        "/recurring".to_owned(),
        "/api/queues/default/dead-letters".to_owned(),
        "/queues/default".to_owned(),
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

/// docs/openapi.yaml is a valid OpenAPI document (openapi-spec-validator)
/// that describes exactly the router's API routes, declares on every
/// action the token the guard asks for, and names the limits the handlers
/// enforce. tests/contract.sh then holds the running API to it.
#[test]
fn openapi_matches_the_routes() {
    let path = hangar_integration_tests::workspace_root().join("docs/openapi.yaml");
    let out = hangar_integration_tests::run_python(
        "import json, sys, yaml\n\
         from openapi_spec_validator import validate\n\
         spec = yaml.safe_load(open(sys.argv[1]))\n\
         validate(spec)\n\
         print(json.dumps(spec))",
        &[path.to_str().unwrap()],
    );
    let spec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let operations: Vec<(String, String, &Value)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .map(move |(m, op)| (m.to_ascii_uppercase(), path.clone(), op))
        })
        .collect();
    let mut documented: Vec<(String, String)> = operations
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    documented.sort();
    let mut routes = hangar_admin::api::route_list();
    routes.sort();
    assert_eq!(
        documented, routes,
        "docs/openapi.yaml (left) against the router (right)"
    );

    // Every route can answer 403 (a local server's host check) and 500;
    // every action needs the token; every input can be refused.
    for (method, path, op) in &operations {
        let responses = op["responses"].as_object().unwrap();
        let has = |code: &str| responses.contains_key(code);
        assert!(has("200") && has("403") && has("500"), "{method} {path}");
        let takes_input = op.get("parameters").is_some() || op.get("requestBody").is_some();
        assert_eq!(
            has("400"),
            takes_input,
            "{method} {path}: 400 documented iff it takes input"
        );
        let token = json!([{ "token": [] }]);
        assert_eq!(
            op.get("security"),
            (method == "POST").then_some(&token),
            "{method} {path}: the actions, and only they, need the token"
        );
    }
    let scheme = &spec["components"]["securitySchemes"]["token"];
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (&json!("apiKey"), &json!("header"), &json!(TOKEN_HEADER))
    );

    // The documented limits are the enforced ones.
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => spec.pointer(&r[1..]).unwrap().clone(),
            None => v.clone(),
        }
    };
    let query_max = |path: &str, name: &str| -> u64 {
        let params = spec["paths"][path]["get"]["parameters"].as_array().unwrap();
        let p = params
            .iter()
            .map(&resolve)
            .find(|p| p["name"] == name)
            .unwrap();
        p["schema"]["maximum"].as_u64().unwrap()
    };
    use hangar_admin::api::*;
    assert_eq!(query_max("/api/jobs", "limit"), MAX_PAGE as u64);
    assert_eq!(query_max("/api/batches", "limit"), MAX_BATCHES as u64);
    assert_eq!(query_max("/api/keys/{key}", "limit"), MAX_KEY_PAGE as u64);
    assert_eq!(query_max("/api/batches/{id}", "limit"), MAX_PAGE as u64);
    assert_eq!(
        query_max("/api/batches/{id}", "from"),
        hangar::batch::MAX_BATCH_JOBS as u64
    );
    let bulk = &spec["components"]["schemas"]["Bulk"]["properties"];
    assert_eq!(bulk["limit"]["maximum"], MAX_BULK_STATE);
    assert_eq!(bulk["ids"]["maxItems"], MAX_BULK_IDS);
    let ids = &spec["components"]["schemas"]["MessageIds"]["properties"]["ids"];
    assert_eq!(ids["maxItems"], MAX_BULK_IDS);
    let reschedule = &spec["paths"]["/api/jobs/{id}/reschedule"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"];
    assert_eq!(reschedule["delay_seconds"]["maximum"], MAX_DELAY_SECONDS);
}

/// The dead-letter queue: peeked without consuming, chosen messages moved
/// back to the queue or deleted; bad input refused.
#[tokio::test]
async fn dead_letters() {
    let api = Api::new().await;
    let ids = api.dead_letters(&["first <b>", "second"]).await;
    for _ in 0..2 {
        let (status, v) = api.get("/api/queues/default/dead-letters").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            v.as_array().unwrap().len(),
            2,
            "peeking consumes nothing: {v}"
        );
    }
    let (_, page) = api.page("/queues/default").await;
    assert!(page.contains("first &lt;b&gt;"), "{page}");

    let (status, v) = api
        .post("/api/queues/default/redrive", json!({"ids": [ids[0]]}))
        .await;
    assert_eq!(
        (status, v["count"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    assert_eq!(
        api.env.queue_depth("default").await.0,
        1,
        "moved back to the queue"
    );
    let (status, v) = api
        .post(
            "/api/queues/default/dead-letters/delete",
            json!({"ids": [ids[1]]}),
        )
        .await;
    assert_eq!(
        (status, v["count"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (_, v) = api.get("/api/queues/default/dead-letters").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    // A redrive without a body moves them all.
    api.dead_letters(&["third"]).await;
    let (status, body) = api
        .send_with(
            "POST",
            "/api/queues/default/redrive",
            &[(TOKEN_HEADER, TOKEN)],
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"count":1}"#));

    let (status, _) = api
        .post("/api/queues/default/dead-letters/delete", json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .post("/api/queues/default/redrive", json!({"ids": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v) = api.get("/api/queues/Bad%20Name/dead-letters").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v.to_string().contains("invalid queue name"), "{v}");
    let (status, v) = api.get("/api/queues/nosuchqueue/dead-letters").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
}

/// A finished job as the worker leaves it: created `age` ago, run for
/// `ms` milliseconds, Succeeded or Failed.
fn finished(i: usize, state: State, now: chrono::DateTime<chrono::Utc>) -> hangar::JobRecord {
    use hangar::HistoryEntry;
    let created = now - chrono::Duration::seconds((i % 86_000) as i64 + 120);
    let started = created + chrono::Duration::seconds(1);
    let ms = (i % 900) as i64 + 5;
    let done = started + chrono::Duration::milliseconds(ms);
    let mut last = HistoryEntry::new(state, done, None).with("duration_ms", ms.to_string());
    if state == State::Failed {
        last = last
            .with("error_type", "Permanent")
            .with("error_message", format!("job {i} failed"));
    }
    hangar::JobRecord {
        id: JobId::generate(),
        kind: format!("kind-{}", i % 5),
        args: json!({ "n": i }),
        options: hangar::JobOptions::default(),
        state,
        version: 3,
        attempt: 1,
        created_at: created,
        updated_at: done,
        run_at: None,
        handed_off: false,
        lease_until: None,
        claimed_version: None,
        parent: None,
        continuations: Vec::new(),
        last_error: (state == State::Failed).then(|| format!("job {i} failed")),
        expires_at: Some(now + chrono::Duration::days(7)),
        parked_at: None,
        waiting_for: None,
        sequence: None,
        batch: None,
        completes_batch: Default::default(),
        params: Default::default(),
        history: vec![
            HistoryEntry::new(State::Enqueued, created, None),
            HistoryEntry::new(State::Processing, started, None).with("worker", "w1"),
            last,
        ],
    }
}

/// Requests per page: for each page, the AWS calls it made.
async fn page_costs(api: &Api, pages: &[String]) -> Vec<(String, BTreeMap<String, usize>, u128)> {
    let mut out = Vec::new();
    for page in pages {
        api.env.calls.reset();
        let started = std::time::Instant::now();
        let (status, body) = api.page(page).await;
        let elapsed = started.elapsed().as_millis();
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
        out.push((page.clone(), api.env.calls.counts(), elapsed));
    }
    out
}

/// With 10,000 Succeeded and 1,000 Failed jobs every page costs what it
/// costs with a handful: a listing page is one query per index shard, all
/// at once, and one BatchGetItem; the overview's counts stop at a bounded
/// number of index entries per shard. Nothing reads per job.
#[tokio::test]
async fn pages_on_a_big_store_cost_a_bounded_number_of_requests() {
    let api = Api::new().await;
    let shards = api.env.config.shards as usize;
    let now = chrono::Utc::now();
    let (succeeded, failed) = (10_000, 1_000);
    let jobs: Vec<hangar::JobRecord> = (0..succeeded)
        .map(|i| finished(i, State::Succeeded, now))
        .chain((0..failed).map(|i| finished(i, State::Failed, now)))
        .collect();
    // A few of each first, measured; then all of them, measured again.
    let (few, rest): (Vec<_>, Vec<_>) = jobs
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| *i % 500 == 0);
    let few: Vec<_> = few.into_iter().map(|(_, j)| j).collect();
    let rest: Vec<_> = rest.into_iter().map(|(_, j)| j).collect();
    api.env.client.seed(&few).await.unwrap();
    let failed_id = few
        .iter()
        .find(|j| j.state == State::Failed)
        .unwrap()
        .id
        .clone();
    let (_, first) = api.get("/api/jobs?state=succeeded&limit=5").await;
    let cursor = first["next"].as_str().expect("a second page").to_owned();
    let since =
        (now - chrono::Duration::hours(6)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pages = vec![
        "/".to_owned(),
        "/jobs/succeeded".to_owned(),
        "/jobs/failed".to_owned(),
        format!("/jobs/succeeded?cursor={cursor}"),
        "/jobs/succeeded?kind=kind-3".to_owned(),
        format!("/jobs/failed?since={since}"),
        "/jobs/enqueued".to_owned(),
        format!("/job/{failed_id}"),
        "/metrics".to_owned(),
        "/recurring".to_owned(),
        "/queues".to_owned(),
    ];
    let small = page_costs(&api, &pages).await;

    let started = std::time::Instant::now();
    api.env.client.seed(&rest).await.unwrap();
    let seeded = started.elapsed();
    let big = page_costs(&api, &pages).await;

    println!(
        "{succeeded} Succeeded + {failed} Failed jobs ({shards} shards), seeded in {:.1}s",
        seeded.as_secs_f64()
    );
    println!(
        "{:<44} {:>8} {:>8}  requests with {} jobs",
        "page",
        "few",
        "all",
        jobs.len()
    );
    for ((page, few, _), (_, all, ms)) in small.iter().zip(&big) {
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        let page = if page.len() > 44 {
            format!("{}…", &page[..43])
        } else {
            page.clone()
        };
        println!(
            "{page:<44} {:>8} {:>8}  {all:?} ({ms} ms on the emulator)",
            total(few),
            total(all)
        );
    }
    for ((page, few, _), (_, all, _)) in small.iter().zip(&big) {
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        if page.starts_with("/jobs/") {
            // One query per shard, all at once, then one batch read of
            // what the page shows (none when nothing matched).
            // (A later page skips the shards its cursor marks as done.)
            // Enqueued jobs sit in two buckets (Active, Parked), so their
            // pages query each shard of both.
            let queries = all.get("Query").copied().unwrap_or(0);
            let reads = all.get("BatchGetItem").copied().unwrap_or(0);
            let later = page.contains("cursor=");
            let buckets = if page.starts_with("/jobs/enqueued") {
                2
            } else {
                1
            };
            // Enqueued's first page also looks for keys with waiting jobs
            // (one query per shard of the Limits bucket; none wait here).
            let keys = if page.starts_with("/jobs/enqueued") && !later {
                shards
            } else {
                0
            };
            assert!(
                queries == shards * buckets + keys || (later && queries <= shards * buckets),
                "{page}: {all:?}"
            );
            assert!(
                reads <= 1 && total(all) == queries + reads,
                "{page}: {all:?}"
            );
        } else if page == "/" {
            // Counting a shard past its first page of entries takes one
            // more query (the extrapolation); no more however full it is.
            assert!(
                total(all) <= total(few) + shards * 2,
                "{page}: {few:?} → {all:?}"
            );
        } else {
            assert_eq!(all, few, "{page} costs the same on a big store");
        }
    }
    let (_, html) = api.page("/jobs/succeeded").await;
    let rows = html.matches(r#"type="checkbox" name="id""#).count();
    assert_eq!(rows, 50, "a full first page");
}

/// Pause and resume through the API and the queues page: the page shows the
/// state and the button for the other action; jobs that arrive while paused
/// are parked, shown on their page, and woken by the resume.
#[tokio::test]
async fn pause_and_resume_a_queue() {
    let api = Api::new().await;
    // A dead-letter queue, listed by the stats, is not a queue the queue
    // routes act on: not found, as for any other name.
    for path in [
        "/api/queues/default-dlq/pause",
        "/api/queues/default-dlq/redrive",
    ] {
        let (status, body) = api.post(path, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, control) = api.post("/api/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{control}");
    assert_eq!(control["paused"], true);
    let (_, rows) = api.get("/api/queues").await;
    let default = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "default")
        .unwrap()
        .clone();
    assert_eq!(default["paused"], true, "{rows}");
    let (_, page) = api.page("/queues").await;
    assert!(
        page.contains("paused") && page.contains("/api/queues/default/resume"),
        "{page}"
    );

    let id = api.enqueued().await;
    let poller = api
        .env
        .poller(hangar::Registry::new().raw("k", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    let (_, job) = api.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(job["state"], "Enqueued", "{job}");
    let (_, page) = api.page(&format!("/job/{id}")).await;
    assert!(page.contains("Parked"), "{page}");

    let (status, resumed) = api.post("/api/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["woken"], 1);
    assert_eq!(resumed["control"]["paused"], false);
    let (_, page) = api.page("/queues").await;
    assert!(page.contains("/api/queues/default/pause"), "{page}");
    let poller = api
        .env
        .poller(hangar::Registry::new().raw("k", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(api.env.job(&id).await.state, State::Succeeded);

    // An unknown queue is a 404 that names what was looked for.
    // (The read-only admin refuses every POST; see token_and_read_only.)
    let (status, body) = api.post("/api/queues/nosuch/pause", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("no SQS queue named"), "{body}");
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

/// A batch through the API and the dashboard: its progress, a page of its
/// jobs, the job's link to its batch, the description escaped, and an
/// unknown batch a 404.
#[tokio::test]
async fn batch_progress_in_the_api_and_the_dashboard() {
    let api = Api::new().await;
    let evil = "<script>alert(1)</script>";
    let batch = (0..3).fold(hangar::Batch::new().description(evil), |b, n| {
        b.enqueue(hangar::NewJob::new("hello", json!({ "n": n })))
            .unwrap()
    });
    let batch = batch
        .continue_with(
            hangar::NewJob::new("hello", json!({})),
            hangar::ContinueOn::AnyFinished,
        )
        .unwrap();
    let id = api.env.client.start_batch(batch).await.unwrap();
    api.env
        .client
        .delete(&JobId::parse(format!("{id}.2")).unwrap())
        .await
        .unwrap();

    let (status, list) = api.get("/api/batches").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    let (status, b) = api.get(&format!("/api/batches/{id}?from=2&limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["batch"]["total"], 3);
    assert_eq!(
        (
            b["batch"]["pending"].as_u64(),
            b["batch"]["deleted"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(b["batch"]["continuations"][0]["on"], "any_finished");
    assert_eq!(b["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(b["jobs"][0]["id"], format!("{id}.2"));
    assert_eq!(b["jobs"][0]["state"], "Deleted");
    assert_eq!(b["next"], 3);

    for page in ["/batches".to_owned(), format!("/batches/{id}")] {
        let (status, html) = api.page(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {html}");
        assert!(!html.contains(evil), "{page} escapes the description");
        assert!(html.contains("&lt;script&gt;"), "{page}: {html}");
        assert!(html.contains(&format!("href=\"/batches/{id}\"")) || page != "/batches");
    }
    let (_, html) = api.page(&format!("/batches/{id}")).await;
    assert!(html.contains(&format!("href=\"/job/{id}.3\"")), "{html}");
    assert!(
        html.contains("2 pending") || html.contains("Pending"),
        "{html}"
    );
    let (_, html) = api.page(&format!("/job/{id}.1")).await;
    assert!(html.contains(&format!("href=\"/batches/{id}\"")), "{html}");

    let (status, v) = api.get("/api/batches/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("batch nope not found"),
        "{v}"
    );
    let (status, _) = api.page("/batches/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

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
