#!/usr/bin/env bash
# The soak: SIZE jobs (default 10,000) of every kind, run by worker
# processes that a chaos loop kills, through a proxy that injects faults,
# then checked against Hangar's promises (tests/src/soak/). Starts the
# emulator unless AWS_ENDPOINT_URL is set. Usage: tests/soak.sh [SIZE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size="${1:-10000}"
cargo build --locked -q -p hangar-integration-tests --bin soak --bin ledger-worker
# Where cargo put them (CARGO_TARGET_DIR, if set).
bin="$(tests/target-dir.sh)/debug"
# shellcheck source=tests/emulator-env.sh
source tests/emulator-env.sh
# Worker processes die with the soak, even if it is cut short.
trap 'pkill -f "^$bin/ledger-worker" || true; localstack/emulator.sh stop "${PORT:-}" >/dev/null 2>&1 || true' EXIT
export RUST_LOG="${RUST_LOG:-error}"
"$bin/soak" "$size"
