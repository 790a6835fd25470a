//! Hangar's admin: one axum router serving a JSON API under `/api` and a
//! server-rendered HTML dashboard, in Lambda behind a Function URL (IAM
//! auth) and on 127.0.0.1 for `hangar dev`. It calls the client's, the
//! store's and the queues' operations; it sends no AWS request of its own.
//!
//! # Layout
//!
//! - [`api`]: the JSON routes.
//! - [`pages`]: the HTML pages (maud, which escapes everything it prints).
//! - [`cursor`]: signed listing cursors.
//! - this file: shared state, errors, the guard on state-changing requests,
//!   and the entry points.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hangar::Client;

pub mod api;
pub mod cursor;
pub mod pages;

pub use cursor::Cursors;

/// The header every state-changing request must carry: the session token
/// when one is set, else any value. A page from another origin can neither
/// read the token nor set a header on a cross-origin request without a
/// preflight, which this server never allows.
pub const TOKEN_HEADER: &str = "x-hangar-token";

/// Set by a `hangar dashboard` proxy on what it forwards: the session token
/// its pages must carry (the proxy checks it before signing a request). Used
/// only when the admin has no token of its own (in Lambda, where IAM auth
/// stands in front and the proxy is the local guard); it grants nothing.
pub const PROXY_TOKEN_HEADER: &str = "x-hangar-proxy-token";

/// Set by a `hangar dashboard --read-only` proxy: this request's pages
/// show no actions and its state changes are refused. It can only narrow.
pub const PROXY_READ_ONLY_HEADER: &str = "x-hangar-proxy-read-only";

/// How the admin behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Refuse every state-changing request (`HANGAR_ADMIN_READ_ONLY=1`).
    pub read_only: bool,
    /// The session token state-changing requests must carry (a local
    /// server's; in Lambda the Function URL's IAM auth stands in front).
    pub token: Option<String>,
    /// Host headers accepted (a local server's own address): a page that
    /// rebinds its own domain to 127.0.0.1 is refused. Empty: any.
    pub allowed_hosts: Vec<String>,
    /// The key that signs listing cursors (`HANGAR_ADMIN_KEY`; default: one
    /// derived from the table name, which makes cursors tamper-evident but
    /// not secret).
    pub cursor_key: Option<Vec<u8>>,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) client: Client,
    pub(crate) cursors: Cursors,
    pub(crate) options: Arc<Options>,
}

impl Admin {
    /// The admin over a client.
    pub fn new(client: Client, options: Options) -> Self {
        let key = options
            .cursor_key
            .clone()
            .unwrap_or_else(|| format!("hangar-admin:{}", client.config().table).into_bytes());
        Admin {
            client,
            cursors: Cursors::new(key),
            options: Arc::new(options),
        }
    }

    /// This admin as one request sees it: a proxy's headers may narrow it to
    /// read-only, and give the pages the proxy's session token.
    fn for_request(&self, headers: &HeaderMap) -> Admin {
        let read_only = headers.contains_key(PROXY_READ_ONLY_HEADER);
        let token = headers
            .get(PROXY_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|t| {
                self.options.token.is_none()
                    && (1..=128).contains(&t.len())
                    && t.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !read_only && token.is_none() {
            return self.clone();
        }
        let mut options = (*self.options).clone();
        options.read_only |= read_only;
        if let Some(token) = token {
            options.token = Some(token.to_owned());
        }
        Admin {
            options: Arc::new(options),
            ..self.clone()
        }
    }

    /// The router: the JSON API, the pages, and the guard on state changes.
    pub fn router(self) -> Router {
        Router::new()
            .merge(api::routes())
            .merge(pages::routes())
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self)
    }
}

/// Handlers take the admin as their request sees it: the one the guard
/// put in the request's extensions (see `for_request`).
impl FromRequestParts<Admin> for Admin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Admin>()
            .cloned()
            .unwrap_or_else(|| admin.for_request(&parts.headers)))
    }
}

/// An error as the API answers it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// A 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<hangar::Error> for ApiError {
    fn from(e: hangar::Error) -> Self {
        use hangar::Error as E;
        let status = match &e {
            E::NotFound { .. } | E::RecurringNotFound { .. } | E::BatchNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            E::InvalidTransition { .. } | E::Conflict { .. } | E::AlreadyExists { .. } => {
                StatusCode::CONFLICT
            }
            E::Invalid { .. } | E::Args { .. } | E::PayloadTooLarge { .. } => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %hangar::error::error_chain(&e), "admin request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<cursor::CursorError> for ApiError {
    fn from(e: cursor::CursorError) -> Self {
        ApiError::bad(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// Refuses requests for another host (a local server), and state changes
/// (any method but GET and HEAD) in read-only mode or without the session
/// token (or, with none set, without the header at all). Under `/api/`,
/// each route checks its actions itself once routing has found its handler
/// ([`action_guard`]), so a method a path does not take is a 405, not a
/// 403; an API path that is no route runs no handler either way.
async fn guard(
    State(admin): State<Admin>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Response {
    let admin = admin.for_request(&headers);
    request.extensions_mut().insert(admin.clone());
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !admin.options.allowed_hosts.is_empty()
        && !admin.options.allowed_hosts.iter().any(|h| h == host)
    {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "this dashboard answers only as {}",
                admin.options.allowed_hosts.join(" or ")
            ),
        }
        .into_response();
    }
    if request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    match refusal(&admin, request.method(), &headers) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

/// The guard on each API route, inside its method routing: refuses a state
/// change as [`guard`] does for every other path.
pub(crate) async fn action_guard(request: Request, next: Next) -> Response {
    let refused = match request.extensions().get::<Admin>() {
        Some(admin) => refusal(admin, request.method(), request.headers()),
        None => Some(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "this request did not pass the dashboard's guard".into(),
        }),
    };
    match refused {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

/// Why a request may not go on: a state change (any method but GET and
/// HEAD) in read-only mode, or without the session token.
fn refusal(admin: &Admin, method: &Method, headers: &HeaderMap) -> Option<ApiError> {
    if method == Method::GET || method == Method::HEAD {
        return None;
    }
    if admin.options.read_only {
        return Some(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "this dashboard is read-only (HANGAR_ADMIN_READ_ONLY)".into(),
        });
    }
    let sent = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let ok = match (&admin.options.token, sent) {
        (_, None) => false,
        (Some(token), Some(sent)) => same_token(sent, token),
        (None, Some(_)) => true,
    };
    (!ok).then(|| ApiError {
        status: StatusCode::FORBIDDEN,
        message: format!(
            "state-changing requests need the {TOKEN_HEADER} header of this dashboard's session"
        ),
    })
}

/// Whether a sent token is the session's, compared in constant time.
pub fn same_token(sent: &str, token: &str) -> bool {
    let (a, b) = (sent.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh session token: 32 random bytes, hex.
pub fn session_token() -> String {
    (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Options from the environment of the admin function.
pub fn options_from_env() -> Options {
    Options {
        read_only: std::env::var("HANGAR_ADMIN_READ_ONLY")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        token: None,
        allowed_hosts: Vec::new(),
        cursor_key: std::env::var("HANGAR_ADMIN_KEY")
            .ok()
            .map(String::into_bytes),
    }
}

/// Options of a server on 127.0.0.1:`port`: a fresh session token (the
/// pages carry it; other origins cannot read it) and only its own host
/// names accepted.
pub fn local_options(port: u16) -> Options {
    Options {
        token: Some(session_token()),
        allowed_hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        ..options_from_env()
    }
}

/// Serves the router on a local listener until `stop` resolves.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}

/// The admin function's whole `main`: in Lambda it serves Function URL
/// requests; elsewhere it serves 127.0.0.1 on `HANGAR_ADMIN_PORT` (default
/// 8080) with a session token, printing the URL to open.
pub async fn run() -> Result<(), lambda_http::Error> {
    hangar::run::init_tracing();
    hangar::run::exit_on_error("admin", serve_from_env().await)
}

async fn serve_from_env() -> Result<(), lambda_http::Error> {
    let client = Client::from_env().await?;
    if hangar::run::in_lambda() {
        let router = Admin::new(client, options_from_env()).router();
        return lambda_http::run(router).await;
    }
    let port: u16 = std::env::var("HANGAR_ADMIN_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let options = local_options(listener.local_addr()?.port());
    println!(
        "Hangar dashboard: http://127.0.0.1:{}/",
        listener.local_addr()?.port()
    );
    serve(
        Admin::new(client, options).router(),
        listener,
        hangar::run::shutdown(),
    )
    .await?;
    Ok(())
}
