#!/usr/bin/env bash
# Runs every test: format and lint checks, unit tests, and integration
# tests against an AWS API emulator through the real AWS SDK. This is the
# README's test command and all that CI runs (.ci/run).
#
# With AWS_ENDPOINT_URL set (LocalStack, or an emulator you started), the
# tests use it. Otherwise this installs the pinned moto emulator into
# localstack/.venv, starts it on a free 127.0.0.1 port, and stops it at exit.
# Extra arguments go to `cargo test` and skip the format and lint checks
# and the API contract test (`bash tests/run.sh -p hangar --lib` runs the
# unit tests only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$#" -eq 0 ]; then
  echo "== format" >&2
  cargo fmt --all -- --check
  echo "== clippy" >&2
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# The emulator's virtualenv also brings the Python tools some tests drive
# (boto3 as a non-Hangar producer, cfn-lint and PyYAML for the templates).
localstack/emulator.sh install
export HANGAR_PYTHON="${HANGAR_PYTHON:-$PWD/localstack/.venv/bin/python}"

# The deploy tools (sam, cfn-lint, cargo-lambda, zig) and the CDK app's
# template, which the template tests read next to the SAM template.
infra/tools.sh install
infra/cdk/synth.sh

# shellcheck source=tests/emulator-env.sh
source tests/emulator-env.sh

cargo test --workspace --locked "$@"

if [ "$#" -eq 0 ]; then
  # The admin API against docs/openapi.yaml: the document validated, then
  # schemathesis's generated and chained requests against `hangar dev`.
  echo "== API contract (tests/contract.sh)" >&2
  bash tests/contract.sh
fi
