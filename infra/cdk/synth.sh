#!/usr/bin/env bash
# Synthesizes the HangarStack app into infra/cdk/cdk.out without bundling
# the functions (no Rust build): the template the tests and cfn-lint read.
# Installs the pinned npm packages (package-lock.json) when they changed.
# Extra arguments are context, e.g. queues=default,emails:5.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! cmp -s package-lock.json node_modules/.hangar-lock 2>/dev/null; then
  echo "cdk: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.hangar-lock
fi
npx tsc --noEmit
context='{"aws:cdk:bundling-stacks":[]'
for kv in "$@"; do
  context+=",\"${kv%%=*}\":\"${kv#*=}\""
done
context+='}'
rm -rf cdk.out
CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON="$context" npx tsx bin/hangar.ts
