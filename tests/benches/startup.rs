//! Start-up of each release bootstrap (`infra/build.sh`) as Lambda starts
//! it: from spawning the process to its first request for an event on the
//! Runtime API (a stub on 127.0.0.1), over several cold starts, and the
//! AWS calls made before that first request, which must be none (the AWS
//! endpoint is a listener that counts connections).
//!
//! Run: `bash tests/bench.sh startup` (builds the bootstraps first).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hangar_integration_tests::runtime_api::RuntimeApi;

const RUNS: usize = 20;

#[tokio::main]
async fn main() {
    // Any AWS call would connect here.
    let aws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", aws.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = aws.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });

    // The SDK's TLS client loads the system's root certificates at start:
    // here a directory of one file per certificate; on Lambda's Amazon Linux
    // 2023, in effect one bundle. Both layouts are measured.
    let empty = std::env::temp_dir().join("hangar-bench-no-cert-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let bundle = "/etc/ssl/certs/ca-certificates.crt";
    let mut layouts = vec![("this machine's certificates", Vec::new())];
    if std::path::Path::new(bundle).exists() {
        layouts.push((
            "one CA bundle (as on AL2023)",
            vec![
                ("SSL_CERT_FILE", bundle.to_owned()),
                ("SSL_CERT_DIR", empty.display().to_string()),
            ],
        ));
    }
    for (layout, cert_env) in layouts {
        println!("{layout}:");
        println!(
            "{:<18} {:>8} {:>8} {:>8} {:>10}",
            "bootstrap", "min", "median", "p95", "AWS calls"
        );
        for bin in ["hangar-worker", "hangar-scheduler", "hangar-admin"] {
            let path = lambda_dir().join(bin).join("bootstrap");
            assert!(path.exists(), "no {}: run infra/build.sh", path.display());
            let mut times = Vec::new();
            for _ in 0..RUNS {
                let api = RuntimeApi::start(Vec::new()).await;
                let spawned = Instant::now();
                let mut child = api
                    .bare_command(path.to_str().unwrap(), bin)
                    .env("AWS_ENDPOINT_URL", &endpoint)
                    .env("HANGAR_STACK", "bench")
                    .envs(cert_env.iter().map(|(k, v)| (k, v)))
                    .spawn()
                    .unwrap();
                let first = loop {
                    if let Some(t) = api.first_next() {
                        break t;
                    }
                    assert!(
                        spawned.elapsed() < Duration::from_secs(10),
                        "{bin} never asked for an event"
                    );
                    tokio::time::sleep(Duration::from_micros(200)).await;
                };
                times.push(first - spawned);
                child.kill().await.unwrap();
            }
            times.sort();
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
            println!(
                "{bin:<18} {:>8} {:>8} {:>8} {:>10}",
                ms(times[0]),
                ms(times[RUNS / 2]),
                ms(times[RUNS * 95 / 100]),
                connections.load(Ordering::SeqCst)
            );
        }
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "an AWS call before the first invocation"
    );
}

/// Where `infra/build.sh` (cargo-lambda) put the bootstraps: `lambda/` of
/// the target directory this bench was built in (`<target>/<profile>/deps/`),
/// which is CARGO_TARGET_DIR when that is set.
fn lambda_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("this bench's path");
    exe.ancestors()
        .nth(3)
        .expect("the bench runs from <target>/<profile>/deps")
        .join("lambda")
}
