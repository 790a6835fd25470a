#!/usr/bin/env bash
# The deploy tools in a project-local virtualenv, infra/.venv (pinned in
# infra/requirements.txt): sam, cfn-lint, cargo-lambda and zig.
#
#   infra/tools.sh install     install or update (no-op when up to date)
#   infra/tools.sh path        print the venv's bin directory (for PATH)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"

pick_python() {
  for py in python3.11 python3.12 python3.13 python3 python; do
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' >/dev/null 2>&1; then
      echo "$py"
      return
    fi
  done
  echo "infra/tools.sh: no python3 found" >&2
  exit 1
}

install() {
  if [ -x "$VENV/bin/sam" ] && cmp -s "$HERE/requirements.txt" "$VENV/.requirements"; then
    return
  fi
  echo "tools: installing sam, cfn-lint, cargo-lambda and zig into $VENV" >&2
  "$(pick_python)" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.requirements"
}

case "${1:-}" in
  install) install ;;
  path) echo "$VENV/bin" ;;
  *)
    echo "usage: infra/tools.sh install|path" >&2
    exit 2
    ;;
esac
