//! Hangar's admin: one axum router serving a JSON API under `/api` and a
//! server-rendered HTML dashboard, in Lambda behind a Function URL (IAM
//! auth) and on 127.0.0.1 for `hangar dev`. It calls the client's, the
//! store's, the queues' and the run logs' operations; it sends no AWS
//! request of its own.
//!
//! # Layout
//!
//! - [`api`]: the JSON routes, one file per resource.
//! - [`pages`]: the HTML pages (maud, which escapes everything it prints),
//!   one file per view.
//! - [`cursor`]: signed listing cursors.
//! - `guard.rs`: who may change what: the session token, read-only mode,
//!   the host check and what a `hangar dashboard` proxy's headers narrow.
//! - `error.rs`: errors as the API and the pages answer them.
//! - this file: the admin's options and state, the router, and the entry
//!   points.

use std::sync::Arc;

use axum::Router;
use hangar::Client;

pub mod api;
pub mod cursor;
mod error;
mod guard;
pub mod pages;

pub use cursor::Cursors;
pub use error::ApiError;
pub use guard::{
    PROXY_READ_ONLY_HEADER, PROXY_TOKEN_HEADER, TOKEN_HEADER, same_token, session_token,
};

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
    /// Where runs' log lines are read (the worker's log group).
    pub(crate) logs: Option<hangar::logs::RunLogs>,
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
            logs: None,
        }
    }

    /// The admin reading runs' log lines with `logs` (a job's page, and
    /// `GET /api/jobs/{id}/logs`).
    pub fn with_logs(mut self, logs: hangar::logs::RunLogs) -> Self {
        self.logs = Some(logs);
        self
    }

    /// The router: the JSON API, the pages, and the guard on state changes.
    pub fn router(self) -> Router {
        Router::new()
            .merge(api::routes())
            .merge(pages::routes())
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                guard::guard,
            ))
            .with_state(self)
    }
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
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = hangar::Config::from_env()?;
    let logs = hangar::logs::RunLogs::new(&sdk, config.worker_log_group());
    let client = Client::new(&sdk, config);
    let admin = |options| Admin::new(client.clone(), options).with_logs(logs.clone());
    if hangar::run::in_lambda() {
        let router = admin(options_from_env()).router();
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
    serve(admin(options).router(), listener, hangar::run::shutdown()).await?;
    Ok(())
}
