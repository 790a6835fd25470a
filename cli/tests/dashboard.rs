//! `hangar dashboard` against a stand-in for a Function URL with AuthType
//! AWS_IAM: a server on 127.0.0.1 that recomputes every request's SigV4
//! signature (service `lambda`) from the known test credentials, refuses
//! what does not match as AWS does (403, `x-amzn-ErrorType`), answers
//! lambda:GetFunctionUrlConfig, and hands what it accepts to the admin
//! router as the Lambda runs it (no token of its own), on the emulator.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hangar::{State as JobState, When};
use hangar_admin::{Admin, Options};
use hangar_integration_tests::TestEnv;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

const BIN: &str = env!("CARGO_BIN_EXE_hangar");
const FUNCTION: &str = "shop-admin";

fn credentials(secret: &str) -> Credentials {
    Credentials::new(
        "AKIDHANGARTEST",
        secret,
        Some("session-token/abc=".into()),
        None,
        "test",
    )
}

/// The stand-in Function URL and Lambda control plane.
struct FunctionUrl {
    port: u16,
    /// "METHOD path?query" of every request it accepted and forwarded.
    forwarded: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Stub {
    router: Router,
    credentials: Credentials,
    port: u16,
    forwarded: Arc<Mutex<Vec<String>>>,
}

impl FunctionUrl {
    async fn start(router: Router, credentials: Credentials) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let stub = Stub {
            router,
            credentials,
            port,
            forwarded: forwarded.clone(),
        };
        let app = Router::new().fallback(serve).with_state(stub);
        tokio::spawn(async move { axum::serve(listener, app).await });
        FunctionUrl { port, forwarded }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn forwarded(&self) -> Vec<String> {
        self.forwarded.lock().unwrap().clone()
    }
}

fn aws_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (
        status,
        [("x-amzn-ErrorType", kind)],
        axum::Json(json!({ "Message": message })),
    )
        .into_response()
}

async fn serve(State(stub): State<Stub>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    if let Err(e) = verify(&parts, &body, &stub.credentials) {
        return aws_error(StatusCode::FORBIDDEN, "AccessDeniedException", &e);
    }
    let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
    if let Some(rest) = path.strip_prefix("/2021-10-31/functions/") {
        return match rest.strip_suffix("/url") {
            Some(FUNCTION) if parts.method == Method::GET => axum::Json(json!({
                "FunctionUrl": format!("http://127.0.0.1:{}/", stub.port),
                "AuthType": "AWS_IAM",
            }))
            .into_response(),
            _ => aws_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "Function not found",
            ),
        };
    }
    stub.forwarded
        .lock()
        .unwrap()
        .push(format!("{} {path}", parts.method));
    let mut inner = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(&path);
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if n != "authorization" && !n.starts_with("x-amz-") {
            inner = inner.header(name, value);
        }
    }
    stub.router
        .clone()
        .oneshot(inner.body(Body::from(body)).unwrap())
        .await
        .unwrap()
}

/// Recomputes the request's SigV4 signature (service `lambda`) with the
/// known credentials; Err says why it does not match.
fn verify(parts: &Parts, body: &[u8], credentials: &Credentials) -> Result<(), String> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let auth = header("authorization")?
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not a SigV4 authorization")?;
    let field = |key: &str| {
        auth.split(", ")
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .ok_or(format!("no {key} in the authorization"))
    };
    let (credential, signed, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, _, region, service, "aws4_request"] = scope[..] else {
        return Err(format!("bad credential scope {credential}"));
    };
    if key != credentials.access_key_id() || service != "lambda" {
        return Err(format!("wrong key or service in {credential}"));
    }
    if header("x-amz-security-token")? != credentials.session_token().unwrap() {
        return Err("wrong session token".into());
    }
    let date = chrono::NaiveDateTime::parse_from_str(header("x-amz-date")?, "%Y%m%dT%H%M%SZ")
        .map_err(|e| e.to_string())?
        .and_utc();
    if (chrono::Utc::now() - date).num_seconds().abs() > 300 {
        return Err("signed too long ago".into());
    }
    let mut headers = Vec::new();
    for name in signed.split(';') {
        if name != "x-amz-date" && name != "x-amz-security-token" {
            headers.push((name, header(name)?));
        }
    }
    let uri = format!("http://{}{}", header("host")?, parts.uri);
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(SystemTime::from(date))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        parts.method.as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (_, expected) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    if expected != signature {
        return Err("The request signature we calculated does not match".into());
    }
    Ok(())
}

/// A running `hangar dashboard`.
struct Dashboard {
    child: tokio::process::Child,
    port: u16,
}

impl Dashboard {
    async fn start(secret: &str, lambda_endpoint: &str, args: &[&str]) -> Self {
        let c = credentials(secret);
        let mut child = tokio::process::Command::new(BIN)
            .arg("dashboard")
            .args(["--port", "0"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", c.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", c.secret_access_key())
            .env("AWS_SESSION_TOKEN", c.session_token().unwrap())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint)
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("hangar dashboard starts")
            .unwrap()
            .expect("hangar dashboard prints its URL");
        let port = first
            .strip_prefix("Hangar dashboard: http://127.0.0.1:")
            .and_then(|r| r.strip_suffix('/'))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Dashboard { child, port }
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        send(self.port, method, path, headers).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        send(self.port, Method::GET, path, &[]).await
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A request to 127.0.0.1:`port` as a browser on a page of that server sends it.
async fn send(port: u16, method: Method, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let host = format!("127.0.0.1:{port}");
    let mut request = axum::http::Request::builder()
        .method(method.clone())
        .uri(format!("http://{host}{path}"));
    if !headers.iter().any(|(n, _)| *n == "host") {
        request = request.header("host", &host);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if method == Method::POST { "{}" } else { "" };
    let request = request
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let client = HttpClient::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn page_token(html: &str) -> String {
    let start = html
        .find(r#"name="hangar-token" content=""#)
        .expect("a token meta")
        + 29;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn state_of(env: &TestEnv, id: &hangar::JobId) -> JobState {
    env.client.get(id).await.unwrap().unwrap().state
}

#[tokio::test]
async fn dashboard_signs_what_it_forwards_and_guards_state_changes() {
    let env = TestEnv::new().await;
    let lambda = Admin::new(env.client.clone(), Options::default()).router();
    let url = FunctionUrl::start(lambda, credentials("secret/KEY+1")).await;
    let id = env
        .client
        .schedule(
            hangar::NewJob::new("hello", json!({})),
            When::In(Duration::from_secs(3600)),
        )
        .await
        .unwrap();

    // The stand-in refuses what is not signed, as a Function URL does.
    assert_eq!(send(url.port, Method::GET, "/api/stats", &[]).await.0, 403);

    // Found by function name (lambda:GetFunctionUrlConfig), every request signed.
    let dash = Dashboard::start("secret/KEY+1", &url.url(), &["--stack", "shop"]).await;
    let (status, html) = dash.get("/").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Hangar"));
    let token = page_token(&html);
    assert_eq!(token.len(), 64, "the page carries the session token");
    let (status, body) = dash.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["state"], "Scheduled");
    let (_, page) = dash.get(&format!("/job/{id}")).await;
    assert!(page.contains("data-post=\""), "the job page offers actions");
    let (status, page) = dash.get("/jobs/scheduled?kind=hello").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(id.as_str()),
        "a query string survives signing"
    );

    // State changes: refused here without the token, with a foreign origin
    // or for another host; nothing of that reaches the function.
    let requeue = format!("/api/jobs/{id}/requeue");
    let own = format!("http://127.0.0.1:{}", dash.port);
    let evil_host = format!("evil.example:{}", dash.port);
    for headers in [
        vec![("origin", own.as_str())],
        vec![("x-hangar-token", "0123"), ("origin", own.as_str())],
        vec![
            ("x-hangar-token", &token),
            ("origin", "http://evil.example"),
        ],
        vec![("x-hangar-token", &token), ("host", &evil_host)],
    ] {
        let (status, body) = dash.send(Method::POST, &requeue, &headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("error"), "{body}");
    }
    assert_eq!(
        dash.send(Method::GET, "/", &[("host", &evil_host)]).await.0,
        403
    );
    assert!(!url.forwarded().iter().any(|r| r.starts_with("POST")));
    assert_eq!(state_of(&env, &id).await, JobState::Scheduled);

    // With the token from its own page: forwarded, signed, done.
    let (status, body) = dash
        .send(
            Method::POST,
            &requeue,
            &[("x-hangar-token", &token), ("origin", &own)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&env, &id).await, JobState::Enqueued);
    assert!(url.forwarded().contains(&format!("POST {requeue}")));
    dash.stop().await;

    // Read-only, by URL: pages without actions; a state change is refused
    // with the right token.
    let dash = Dashboard::start(
        "secret/KEY+1",
        "http://127.0.0.1:9",
        &["--url", &url.url(), "--read-only"],
    )
    .await;
    let (status, html) = dash.get(&format!("/job/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Read-only"), "{html}");
    assert!(!html.contains("data-post=\""), "no action buttons");
    let token = page_token(&html);
    let before = url.forwarded().len();
    let delete = format!("/api/jobs/{id}/delete");
    let (status, body) = dash
        .send(Method::POST, &delete, &[("x-hangar-token", &token)])
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("read-only"));
    assert_eq!(url.forwarded().len(), before);
    assert_eq!(state_of(&env, &id).await, JobState::Enqueued);
    dash.stop().await;

    // Credentials the function does not accept: a clear 403.
    let dash = Dashboard::start("wrong", "http://127.0.0.1:9", &["--url", &url.url()]).await;
    let (status, body) = dash.get("/api/stats").await;
    assert_eq!(status, 403);
    assert!(body.contains("lambda:InvokeFunctionUrl"), "{body}");
    dash.stop().await;

    // A function that does not exist: the command says what to do.
    let out = tokio::process::Command::new(BIN)
        .args(["dashboard", "--port", "0", "--function", "nope"])
        .env("AWS_ACCESS_KEY_ID", "AKIDHANGARTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret/KEY+1")
        .env("AWS_SESSION_TOKEN", "session-token/abc=")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_LAMBDA", url.url())
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains("--url"),
        "{stderr}"
    );
}
