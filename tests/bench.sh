#!/usr/bin/env bash
# Runs one benchmark (tests/benches/NAME.rs) against the emulator, started
# here unless AWS_ENDPOINT_URL is set. Usage: tests/bench.sh NAME [ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: tests/bench.sh NAME [ARGS...]}"
shift

# The start-up figures are of the release bootstraps.
if [ "$name" = startup ]; then
  infra/build.sh
fi

# shellcheck source=tests/emulator-env.sh
source tests/emulator-env.sh
export RUST_LOG="${RUST_LOG:-warn}"

# The figures are I/O-bound (emulator round trips, SQS delays), so the
# dev profile (dependencies optimised) measures the same as release.
cargo bench --locked --profile dev -p hangar-integration-tests --bench "$name" -- "$@"
