#!/usr/bin/env bash
# Runs one benchmark (tests/benches/NAME.rs) against the emulator, started
# here unless AWS_ENDPOINT_URL is set. Usage: tests/bench.sh NAME [ARGS...]
# `tests/bench.sh sim [ARGS...]` times the simulation instead (tests/sim).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: tests/bench.sh NAME [ARGS...]}"
shift

# The simulation's speed: its binary built whole-program optimised (the
# `sim` profile) for this machine's processor (it runs where it is
# built; a target directory shared between machines needs a rebuild), one
# seed on one thread, no emulator. By default the seed the
# docs' figures are of; ARGS replace it (sim's own arguments).
if [ "$name" = sim ]; then
  RUSTFLAGS="${RUSTFLAGS:-} -C target-cpu=native" \
    cargo build --locked --quiet --profile sim -p hangar-sim --bin sim
  if [ "$#" -eq 0 ]; then set -- --seed 3 --jobs 2000; fi
  exec "$(tests/target-dir.sh)/sim/sim" "$@"
fi

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
