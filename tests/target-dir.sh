#!/usr/bin/env bash
# Prints the workspace's cargo target directory as cargo resolves it
# (CARGO_TARGET_DIR, a `build.target-dir` setting, or target/): where the
# scripts find what cargo and cargo-lambda built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
