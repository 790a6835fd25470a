//! The SigV4-signing proxy behind `hangar dashboard`: it serves a deployed
//! stack's dashboard on 127.0.0.1, as `kubectl proxy` serves a cluster's
//! API. The admin function's Function URL takes only requests signed with
//! SigV4 (AuthType AWS_IAM); this server signs each request it forwards
//! with the caller's AWS credentials. The dashboard itself is the admin
//! function's (functions/admin).
//!
//! Locally it is the guard: it answers only as its own host (a page that
//! rebinds its domain to 127.0.0.1 is refused), and a state-changing request
//! needs this session's token, which only its own pages carry, and no
//! foreign `Origin`. With `--read-only` it refuses every state change itself
//! and asks the function to render pages without actions.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hangar_admin::{PROXY_READ_ONLY_HEADER, PROXY_TOKEN_HEADER, TOKEN_HEADER};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;

use crate::output::Fail;

/// How long one forwarded request may take (the admin function's timeout,
/// plus a margin).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(35);

/// Largest request body forwarded (a Function URL's payload limit).
const MAX_BODY: usize = 6 * 1024 * 1024;

/// Lambda's APIs and Function URLs, with every request signed with the
/// caller's credentials.
pub struct Lambda {
    signer: Signer,
    http: HttpClient<Https, Full<Bytes>>,
}

impl Lambda {
    pub fn new(config: &aws_config::SdkConfig) -> Result<Self, Fail> {
        Ok(Lambda {
            signer: Signer::new(config)?,
            http: http_client()?,
        })
    }

    /// The caller's region, which requests are signed for unless a
    /// Function URL names its own.
    pub fn region(&self) -> &str {
        &self.signer.region
    }

    /// The Function URL of function `name` (lambda:GetFunctionUrlConfig).
    pub async fn function_url(&self, endpoint: &str, name: &str) -> Result<String, Fail> {
        let encoded: String = name
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!(
            "{}/2021-10-31/functions/{encoded}/url",
            endpoint.trim_end_matches('/')
        );
        let mut request = axum::http::Request::get(&url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Fail::usage(format!("bad endpoint {endpoint}: {e}")))?;
        self.signer
            .sign(&mut request, &[], &self.signer.region)
            .await
            .map_err(Fail::new)?;
        let failed =
            |e: String| Fail::new(format!("cannot look up the admin function {name}: {e}"));
        let response = tokio::time::timeout(UPSTREAM_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| failed(format!("{endpoint} did not answer")))?
            .map_err(|e| failed(hangar::error::error_chain(&e)))?;
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_success()
            && let Some(url) = json.get("FunctionUrl").and_then(|u| u.as_str())
        {
            return Ok(url.to_owned());
        }
        let message = json
            .get("Message")
            .or_else(|| json.get("message"))
            .and_then(|m| m.as_str())
            .unwrap_or("no message");
        Err(failed(match status {
            StatusCode::NOT_FOUND => format!(
                "it has no Function URL or does not exist ({message}); deploy the stack, or pass --function or --url"
            ),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => format!(
                "access denied ({message}); the caller needs lambda:GetFunctionUrlConfig, or pass --url"
            ),
            s => format!("{s}: {message}"),
        }))
    }
}

/// Where the proxy forwards to: a Function URL, checked, and its region.
pub struct Upstream {
    url: String,
    region: String,
    lambda: Lambda,
}

impl Upstream {
    /// A usage error unless `url` is an http(s) URL.
    pub fn new(lambda: Lambda, url: &str) -> Result<Self, Fail> {
        let upstream: Uri = url
            .parse()
            .ok()
            .filter(|u: &Uri| {
                u.host().is_some() && matches!(u.scheme_str(), Some("https" | "http"))
            })
            .ok_or_else(|| Fail::usage(format!("not an http(s) URL: {url}")))?;
        let region = function_url_region(&upstream).unwrap_or_else(|| lambda.region().to_owned());
        Ok(Upstream {
            url: url.to_owned(),
            region,
            lambda,
        })
    }
}

/// Serves the proxy to `upstream` on `listener`, 127.0.0.1:`port`, until
/// Ctrl-C or SIGTERM.
pub async fn serve(
    upstream: Upstream,
    listener: tokio::net::TcpListener,
    port: u16,
    read_only: bool,
) -> Result<(), Fail> {
    let proxy = Proxy {
        base: upstream.url.trim_end_matches('/').to_owned(),
        region: upstream.region,
        signer: upstream.lambda.signer,
        http: upstream.lambda.http,
        token: hangar_admin::session_token(),
        read_only,
        hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
    };
    let router = Router::new().fallback(forward).with_state(Arc::new(proxy));
    axum::serve(listener, router)
        .with_graceful_shutdown(hangar::run::shutdown())
        .await
        .map_err(|e| Fail::new(format!("dashboard stopped: {e}")))
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn http_client() -> Result<HttpClient<Https, Full<Bytes>>, Fail> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| Fail::new(format!("cannot load the system's root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(HttpClient::builder(TokioExecutor::new()).build(connector))
}

/// Signs requests for service `lambda` with the caller's credentials,
/// fetched once and again shortly before they expire.
struct Signer {
    provider: SharedCredentialsProvider,
    region: String,
    cached: Mutex<Option<Credentials>>,
}

impl Signer {
    fn new(config: &aws_config::SdkConfig) -> Result<Self, Fail> {
        let provider = config.credentials_provider().ok_or_else(|| {
            Fail::new("no AWS credentials: configure a profile or AWS_ACCESS_KEY_ID")
        })?;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| Fail::new("no AWS region: set AWS_REGION or a profile's region"))?;
        Ok(Signer {
            provider,
            region,
            cached: Mutex::new(None),
        })
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let mut cached = self.cached.lock().await;
        let fresh_until = SystemTime::now() + Duration::from_secs(300);
        if let Some(c) = cached.as_ref()
            && c.expiry().is_none_or(|e| e > fresh_until)
        {
            return Ok(c.clone());
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {}", hangar::error::error_chain(&e)))?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Adds the SigV4 headers (service `lambda`) to `request`.
    async fn sign(
        &self,
        request: &mut axum::http::Request<Full<Bytes>>,
        body: &[u8],
        region: &str,
    ) -> Result<(), String> {
        let identity: Identity = self.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The region of a Function URL (`<id>.lambda-url.<region>.on.aws`).
fn function_url_region(url: &Uri) -> Option<String> {
    let host = url.host()?;
    let rest = host.split_once(".lambda-url.")?.1;
    let region = rest.strip_suffix(".on.aws")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

struct Proxy {
    /// The Function URL without its trailing slash.
    base: String,
    region: String,
    signer: Signer,
    http: HttpClient<Https, Full<Bytes>>,
    token: String,
    read_only: bool,
    hosts: [String; 2],
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

/// Request headers the function needs; nothing else (cookies, say) leaves
/// the machine.
const FORWARDED: [header::HeaderName; 2] = [header::ACCEPT, header::CONTENT_TYPE];

/// Response headers passed back to the browser.
const RETURNED: [header::HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::CACHE_CONTROL,
];

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(refusal) = proxy.check(&parts.method, &parts.headers) {
        return refusal;
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over 6 MB or cut short",
            );
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", proxy.base);
    let mut upstream = match axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(&url)
        .body(Full::new(body.clone()))
    {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("bad request path: {e}")),
    };
    let headers = upstream.headers_mut();
    for name in FORWARDED {
        if let Some(v) = parts.headers.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    if let Ok(token) = HeaderValue::from_str(&proxy.token) {
        headers.insert(PROXY_TOKEN_HEADER, token.clone());
        if !is_read(&parts.method) {
            headers.insert(TOKEN_HEADER, token);
        }
    }
    if proxy.read_only {
        headers.insert(PROXY_READ_ONLY_HEADER, HeaderValue::from_static("1"));
    }
    if let Err(e) = proxy.signer.sign(&mut upstream, &body, &proxy.region).await {
        return refuse(StatusCode::BAD_GATEWAY, e);
    }
    let response = match tokio::time::timeout(UPSTREAM_TIMEOUT, proxy.http.request(upstream)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the admin function could not be reached: {}",
                    hangar::error::error_chain(&e)
                ),
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "the admin function did not answer in time",
            );
        }
    };
    let (up, body) = response.into_parts();
    if up.status == StatusCode::FORBIDDEN && up.headers.contains_key("x-amzn-errortype") {
        eprintln!("the Function URL refused a signed request ({})", parts.uri);
        return refuse(
            StatusCode::FORBIDDEN,
            "the Function URL refused the signed request: the AWS identity running hangar \
             dashboard needs lambda:InvokeFunctionUrl on the admin function",
        );
    }
    let mut out = Response::builder().status(up.status);
    for name in RETURNED {
        if let Some(v) = up.headers.get(&name) {
            out = out.header(name, v);
        }
    }
    out.body(Body::new(body))
        .unwrap_or_else(|e| refuse(StatusCode::BAD_GATEWAY, e.to_string()))
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

impl Proxy {
    /// The local guard: the host, and for a state change read-only mode,
    /// the origin and the session token.
    fn check(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !self.hosts.iter().any(|h| h == host) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                format!("this dashboard answers only as {}", self.hosts.join(" or ")),
            ));
        }
        if is_read(method) {
            return None;
        }
        if self.read_only {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "this dashboard is read-only (hangar dashboard --read-only)",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = origin
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|o| self.hosts.iter().any(|h| h == o));
            if !own {
                return Some(refuse(
                    StatusCode::FORBIDDEN,
                    "state-changing requests from another origin are refused",
                ));
            }
        }
        let sent = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|t| hangar_admin::same_token(t, &self.token)) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "state-changing requests need the {TOKEN_HEADER} header of this dashboard's session"
                ),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_a_function_url() {
        let url: Uri = "https://abc123.lambda-url.eu-west-1.on.aws/"
            .parse()
            .unwrap();
        assert_eq!(function_url_region(&url).as_deref(), Some("eu-west-1"));
        let local: Uri = "http://127.0.0.1:9000/".parse().unwrap();
        assert_eq!(function_url_region(&local), None);
    }
}
