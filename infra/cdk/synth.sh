#!/usr/bin/env bash
# Synthesizes the HangarStack app into infra/cdk/cdk.out without bundling
# the functions (no Rust build): the template the tests and cfn-lint read.
# The context is what `cdk synth` gives the app: cdk.json's, then each
# KEY=VALUE argument (e.g. queues=default,emails:5, see bin/hangar.ts).
# Installs the pinned npm packages (package-lock.json) when they changed.
#
#   infra/cdk/synth.sh [--out DIR] [--bundle] [KEY=VALUE...]
#
# --out DIR: write the cloud assembly to DIR instead (it is replaced).
# --bundle: build the functions' code as `cdk deploy` would (cargo lambda
# build, through the `cargo` on PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out=cdk.out
bundle=0
pairs=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --out)
      out="${2:?--out needs a directory}"
      shift 2
      ;;
    --bundle)
      bundle=1
      shift
      ;;
    *=*)
      pairs+=("$1")
      shift
      ;;
    *)
      echo "usage: infra/cdk/synth.sh [--out DIR] [--bundle] [KEY=VALUE...]" >&2
      exit 2
      ;;
  esac
done
if ! cmp -s package-lock.json node_modules/.hangar-lock 2>/dev/null; then
  echo "cdk: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.hangar-lock
fi
npx tsc --noEmit
context="$(node -e '
const [bundle, ...pairs] = process.argv.slice(1);
const context = { ...require("./cdk.json").context };
if (bundle !== "1") context["aws:cdk:bundling-stacks"] = [];
for (const pair of pairs) {
  const at = pair.indexOf("=");
  context[pair.slice(0, at)] = pair.slice(at + 1);
}
console.log(JSON.stringify(context));
' "$bundle" ${pairs[@]+"${pairs[@]}"})"
rm -rf "$out"
CDK_OUTDIR="$out" CDK_CONTEXT_JSON="$context" npx tsx bin/hangar.ts
