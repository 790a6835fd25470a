#!/usr/bin/env bash
# Builds every function as Lambda runs it, with cargo-lambda (release,
# stripped, linked by zig for Amazon Linux's glibc): the worker, scheduler
# and admin bootstraps in <target>/lambda/<binary>/bootstrap (<target>:
# CARGO_TARGET_DIR if set, else target/), and prints their sizes. Architecture: --arm64 (what the templates deploy) or
# --x86-64; default: this machine's, since another target's standard
# library may not be installable here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
infra/tools.sh install
# cargo-lambda finds zig through the first python on PATH.
PATH="$(infra/tools.sh path):$PATH"
export PATH

arch="${1:-}"
if [ -z "$arch" ]; then
  case "$(uname -m)" in
    aarch64 | arm64) arch=--arm64 ;;
    *) arch=--x86-64 ;;
  esac
fi
bins=(hangar-worker hangar-scheduler hangar-admin)
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
cargo lambda build --release --locked "$arch" "${args[@]}"

lambda="$(tests/target-dir.sh)/lambda"
echo "bootstrap sizes ($arch, stripped, in $lambda):"
for b in "${bins[@]}"; do
  f="$lambda/$b/bootstrap"
  awk -v b="$b" -v n="$(stat -c %s "$f")" 'BEGIN { printf "  %-18s %6.1f MB\n", b, n / 1000000 }'
done
