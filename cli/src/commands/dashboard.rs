//! `hangar dashboard`: a deployed stack's dashboard on 127.0.0.1, through
//! the signing proxy (`crate::proxy`) to the admin function's Function URL.

use clap::Args;

use super::common::bind_local;
use crate::Ctx;
use crate::output::Fail;
use crate::proxy::{self, Lambda, Upstream};

#[derive(Args)]
pub struct DashboardArgs {
    /// The admin Function URL (default: the URL of the stack's admin
    /// function, looked up with lambda:GetFunctionUrlConfig).
    #[arg(long)]
    url: Option<String>,
    /// The admin function's name or ARN (default: <stack>-admin).
    #[arg(long, conflicts_with = "url")]
    function: Option<String>,
    /// Serve on this 127.0.0.1 port (default 8080, or a free one when
    /// 8080 is taken).
    #[arg(long)]
    port: Option<u16>,
    /// Read-only: pages without actions; every state change is refused.
    #[arg(long)]
    read_only: bool,
}

pub async fn run(ctx: &Ctx, args: DashboardArgs) -> Result<(), Fail> {
    let config = ctx.sdk().await;
    let lambda = Lambda::new(&config)?;
    let url = match args.url {
        Some(url) => url,
        None => {
            let name = args
                .function
                .unwrap_or_else(|| format!("{}-admin", ctx.stack));
            // As for the other services: --endpoint, else Lambda's own
            // variable, else AWS_ENDPOINT_URL.
            let endpoint = ctx
                .endpoint
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT_URL_LAMBDA").ok())
                .or_else(|| config.endpoint_url().map(str::to_owned))
                .unwrap_or_else(|| format!("https://lambda.{}.amazonaws.com", lambda.region()));
            lambda.function_url(&endpoint, &name).await?
        }
    };
    let upstream = Upstream::new(lambda, &url)?;
    let listener = bind_local(args.port, "the dashboard").await?;
    let port = listener
        .local_addr()
        .map_err(|e| Fail::new(format!("cannot serve the dashboard: {e}")))?
        .port();
    println!("Hangar dashboard: http://127.0.0.1:{port}/");
    println!(
        "  forwarding to {url}{}",
        if args.read_only { " (read-only)" } else { "" }
    );
    println!("  Ctrl-C stops");
    proxy::serve(upstream, listener, port, args.read_only).await
}
