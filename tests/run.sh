#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests against an AWS API
# emulator through the real AWS SDK.
#
# With AWS_ENDPOINT_URL set (LocalStack, or an emulator you started), the
# tests use it. Otherwise this installs the pinned moto emulator into
# localstack/.venv, starts it on a free 127.0.0.1 port, and stops it at exit.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The emulator's virtualenv also brings the Python tools some tests drive
# (boto3 as a non-Hangar producer, cfn-lint and PyYAML for the templates).
localstack/emulator.sh install
export HANGAR_PYTHON="${HANGAR_PYTHON:-$PWD/localstack/.venv/bin/python}"

# shellcheck source=tests/emulator-env.sh
source tests/emulator-env.sh

cargo test --workspace --locked "$@"
