# Sourced by tests/run.sh and tests/bench.sh: uses the endpoint in
# AWS_ENDPOINT_URL (LocalStack, or an emulator you started) or installs the
# pinned moto emulator into localstack/.venv, starts it on a free 127.0.0.1
# port and stops it when the calling script exits. Exports test credentials
# and region unless set.
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  PORT="$(localstack/emulator.sh free-port)"
  trap 'localstack/emulator.sh stop "$PORT"' EXIT
  localstack/emulator.sh start "$PORT"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
fi
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
