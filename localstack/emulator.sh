#!/usr/bin/env bash
# The no-Docker AWS emulator: moto in server mode, installed into a
# project-local virtualenv and bound to 127.0.0.1.
#
#   localstack/emulator.sh install        create localstack/.venv with the pinned moto
#   localstack/emulator.sh start [PORT]   start it (default port 4566, LocalStack's)
#   localstack/emulator.sh stop [PORT]    stop the one started on PORT
#   localstack/emulator.sh status [PORT]  exit 0 if it answers
#   localstack/emulator.sh reset [PORT]   clear all its state
#   localstack/emulator.sh free-port      print a free local port
#
# Users with Docker can run LocalStack instead (docker-compose.yml beside this
# file); everything in Hangar talks to whatever AWS_ENDPOINT_URL names.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
CMD="${1:-}"
PORT="${2:-${HANGAR_EMULATOR_PORT:-4566}}"
PIDFILE="$HERE/emulator-$PORT.pid"
LOG="$HERE/emulator-$PORT.log"
URL="http://127.0.0.1:$PORT"

pick_python() {
  for py in python3.11 python3.12 python3.13 python3 python; do
    if command -v "$py" >/dev/null 2>&1; then echo "$py"; return; fi
  done
  echo "emulator: no python3 found; install Python 3.9 or newer" >&2
  exit 1
}

answers() {
  "$(pick_python)" - "$URL" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json", timeout=1).read()
PY
}

install() {
  if [ -x "$VENV/bin/moto_server" ] && cmp -s "$HERE/requirements.txt" "$VENV/.requirements"; then
    return
  fi
  local py
  py="$(pick_python)"
  echo "emulator: installing moto into $VENV" >&2
  "$py" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.requirements"
}

case "$CMD" in
  install)
    install
    ;;
  start)
    if answers; then
      echo "emulator: already answering at $URL" >&2
      exit 0
    fi
    install
    # moto_server with DynamoDB requests serialized (see moto_server.py).
    nohup "$VENV/bin/python" "$HERE/moto_server.py" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
      if answers; then
        echo "emulator: moto listening at $URL (pid $(cat "$PIDFILE"), log $LOG)" >&2
        exit 0
      fi
      sleep 0.1
    done
    echo "emulator: did not start within 10s; see $LOG" >&2
    tail -20 "$LOG" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      kill "$(cat "$PIDFILE")" 2>/dev/null || true
      rm -f "$PIDFILE" "$LOG"
      echo "emulator: stopped $URL" >&2
    fi
    ;;
  status)
    answers
    ;;
  reset)
    "$(pick_python)" -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$URL/moto-api/reset', method='POST'))"
    ;;
  free-port)
    "$(pick_python)" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"
    ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
