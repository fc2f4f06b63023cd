#!/usr/bin/env bash
# Build a runnable keybroker tree into OUTDIR: compiled JS, proto, CLI and production dependencies only.
# The Dockerfile runs exactly this script, and test/deploy_build.test.ts runs it too, so the image's
# build steps are proven on every test run even where no container engine exists.
#
#   deploy/docker/build.sh OUTDIR [--skip-install] [--node-modules-from DIR]
#
#   --skip-install            use the node_modules already in the source tree for compiling (no `npm ci`)
#   --node-modules-from DIR   copy DIR (a full install for this lock file) into OUTDIR and prune it to
#                             production dependencies, instead of a fresh `npm ci --omit=dev` (which
#                             compiles better-sqlite3 and takes about a minute; the test uses this)
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [--skip-install] [--node-modules-from DIR]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
out=$1; shift
skip_install=0
modules_from=
while [[ $# -gt 0 ]]; do
  case $1 in
    --skip-install) skip_install=1 ;;
    --node-modules-from) [[ $# -ge 2 ]] || usage; modules_from=$(cd "$2" && pwd -P); shift ;;
    *) usage ;;
  esac
  shift
done

src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ "$out" != "$src" ]] || { echo "$0: OUTDIR must not be the source tree" >&2; exit 2; }

cd "$src"
if [[ $skip_install -eq 0 ]]; then
  npm ci --no-audit --no-fund
fi
# Compile into a scratch folder so a stale dist/ in the source tree can never leak into the output.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$build/dist"

rm -rf "$out/dist" "$out/proto" "$out/bin" "$out/node_modules"
cp -R "$build/dist" "$out/dist"
cp -R proto bin "$out/"
cp package.json package-lock.json "$out/"

cd "$out"
if [[ -n "$modules_from" ]]; then
  cp -R "$modules_from" node_modules
  npm prune --omit=dev --offline --no-audit --no-fund
else
  npm ci --omit=dev --no-audit --no-fund
fi
chmod 0755 bin/keybroker.js
echo "keybroker built into $out (run: node $out/bin/keybroker.js serve --config FILE)"
