//! The fault-injecting proxy as its own process (see
//! `hangar_integration_tests::proxy`), for worker and timer processes that
//! are not the test's: `fault-proxy UPSTREAM_URL [PORT] [RULES_JSON]`.
//! Prints `listening <url>` once it serves; on SIGTERM or Ctrl-C prints
//! the faults it injected, as JSON, and exits.

use hangar_integration_tests::proxy::{Proxy, Rule};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let upstream = args
        .next()
        .expect("usage: fault-proxy UPSTREAM_URL [PORT] [RULES_JSON]");
    let port: u16 = args.next().map_or(0, |p| p.parse().expect("a port"));
    let rules: Vec<Rule> = args.next().map_or_else(Vec::new, |r| {
        serde_json::from_str(&r).expect("rules as JSON")
    });
    let proxy = Proxy::start(&upstream, port, rules)
        .await
        .expect("the proxy binds 127.0.0.1");
    println!("listening {}", proxy.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("{}", serde_json::to_string(&proxy.counts()).unwrap());
}
