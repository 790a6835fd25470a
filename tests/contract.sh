#!/usr/bin/env bash
# The admin API against its document, docs/openapi.yaml:
#
# 1. openapi-spec-validator checks that the document is valid OpenAPI 3.1.
# 2. `hangar dev` runs the whole system (its own emulator, the example
#    worker, the timer, the demo jobs) on free 127.0.0.1 ports.
# 3. schemathesis generates requests from the document and sends them to
#    that dashboard's API: the examples, the coverage phase (each parameter's
#    edges and wrong values, each required part missing, methods a path does
#    not take), fuzzing, and the stateful phase, which chains requests
#    through the document's links (a listing's jobs fetched, requeued,
#    rescheduled and deleted; recurring jobs triggered; queues paused).
#    Every check is on: each answer's status, content type and body must be
#    the document's, schema-valid requests accepted, invalid ones refused,
#    and the actions' token enforced (a POST without it, or with another,
#    must be the documented 403).
#
# The actions carry the session token the way the dashboard's pages do:
# read from the page's <meta name="hangar-token">.
#
#   bash tests/contract.sh [SCHEMATHESIS OPTIONS]   e.g. --max-examples 200,
#                                                  or the --seed of a failure
#
# Its settings (cases per phase, steps per scenario) are tests/contract.toml,
# and tests/contract_hooks.py keeps made-up cursors out of the requests that
# must be accepted.
#
# It stops everything it started. Part of tests/run.sh; run alone, it
# installs the emulator's virtualenv (localstack/requirements.txt pins
# openapi-spec-validator and schemathesis) and builds the CLI first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

localstack/emulator.sh install
BIN="$ROOT/localstack/.venv/bin"

echo "== openapi-spec-validator docs/openapi.yaml" >&2
"$BIN/openapi-spec-validator" docs/openapi.yaml

cargo build --locked -q -p hangar-cli
TARGET="$(cargo metadata --format-version 1 --no-deps | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
EMULATOR_PORT="$(localstack/emulator.sh free-port)"
PORT="$(localstack/emulator.sh free-port)"
URL="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
LOG="$WORK/hangar-dev.log"

# `hangar dev` starts (and at exit stops) an emulator of its own: the
# requests below change jobs and queues, so they get a stack to themselves.
env -u AWS_ENDPOINT_URL HANGAR_STACK=contract "$TARGET/debug/hangar" dev \
  --port "$EMULATOR_PORT" --dashboard-port "$PORT" --tick 1s >"$LOG" 2>&1 &
DEV=$!
stop() {
  kill -INT "$DEV" 2>/dev/null || true
  # A worker stops once the jobs it is running end (at most 20 s here).
  for _ in $(seq 1 300); do
    kill -0 "$DEV" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$DEV" 2>/dev/null || true
  "$ROOT/localstack/emulator.sh" stop "$EMULATOR_PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop EXIT

# Ready once the demo set is in (hangar dev prints the line after it), then
# the session token from the overview page.
for _ in $(seq 1 120); do
  if grep -q "Ctrl-C stops everything" "$LOG" || ! kill -0 "$DEV" 2>/dev/null; then break; fi
  sleep 1
done
if ! grep -q "Ctrl-C stops everything" "$LOG"; then
  echo "contract: hangar dev did not come up within 120 s:" >&2
  cat "$LOG" >&2
  exit 1
fi
TOKEN="$("$BIN/python" - "$URL" <<'PY'
import re, sys, urllib.request
page = urllib.request.urlopen(sys.argv[1] + "/", timeout=10).read().decode()
print(re.search(r'<meta name="hangar-token" content="([0-9a-f]+)"', page).group(1))
PY
)"

# Beyond the demo set, something for every listing's links to lead to: a
# batch, jobs waiting on a concurrency key, and dead letters.
export AWS_ENDPOINT_URL="http://127.0.0.1:$EMULATOR_PORT" HANGAR_STACK=contract
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
printf '%s\n' '{"kind":"hello","args":{"name":"batch 1"}}' '{"kind":"sleep","args":{"ms":1000}}' |
  "$TARGET/debug/hangar" batch create --description contract \
    --then '{"kind":"hello","args":{"name":"after the batch"}}' >/dev/null
"$TARGET/debug/hangar" enqueue sleep --args '{"ms":20000}' --concurrency contract=1 --count 3 >/dev/null
"$BIN/python" - <<'PY'
import os, boto3
sqs = boto3.client("sqs", region_name=os.environ["AWS_REGION"])
url = sqs.get_queue_url(QueueName="contract-default-dlq")["QueueUrl"]
for body in ['{"hangar": 1, "id": "gone"}', "not a Hangar message"]:
    sqs.send_message(QueueUrl=url, MessageBody=body)
PY

echo "== schemathesis against hangar dev's API at $URL" >&2
cd "$WORK"
status=0
HANGAR_CONTRACT_URL="$URL" HANGAR_CONTRACT_TOKEN="$TOKEN" \
  SCHEMATHESIS_HOOKS="$ROOT/tests/contract_hooks.py" \
  "$BIN/schemathesis" --config-file "$ROOT/tests/contract.toml" --no-color \
  run "$ROOT/docs/openapi.yaml" \
  --phases examples,coverage,fuzzing,stateful \
  --checks all \
  "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "contract: the API does not do what docs/openapi.yaml says (above); hangar dev's log:" >&2
  tail -40 "$LOG" >&2
fi
exit "$status"
