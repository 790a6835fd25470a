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

# Most figures are I/O-bound (emulator round trips, SQS delays), so the
# dev profile (dependencies optimised) measures the same as release; the
# worker's CPU per job is measured on the release profile.
profile=dev
if [ "$name" = worker_cpu ]; then
  profile=release
fi
cargo bench --locked --profile "$profile" -p hangar-integration-tests --bench "$name" -- "$@"
