//! Who may change what. Every request passes [`guard`]: a local server
//! answers only as its own host; a state change needs the session token
//! and is refused in read-only mode. A `hangar dashboard` proxy's headers
//! can only narrow what a request may do.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{Admin, ApiError};

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

impl Admin {
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

/// Refuses requests for another host (a local server), and state changes
/// (any method but GET and HEAD) in read-only mode or without the session
/// token (or, with none set, without the header at all). Under `/api/`,
/// each route checks its actions itself once routing has found its handler
/// ([`action_guard`]), so a method a path does not take is a 405, not a
/// 403; an API path that is no route runs no handler either way.
pub(crate) async fn guard(
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
