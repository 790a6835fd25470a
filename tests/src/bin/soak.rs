//! The soak (`hangar_integration_tests::soak`): `soak [SIZE]`, SIZE jobs
//! (default 10,000). `bash tests/soak.sh [SIZE]` builds and runs it with
//! the emulator. Exits 1 on a violation.

#[tokio::main]
async fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    if !hangar_integration_tests::soak::soak(size).await {
        std::process::exit(1);
    }
}
