#!/usr/bin/env bash
# The runtime matrix: installs the runtimes (install.sh), then runs each entry on its own runtime,
# printing its output as it goes, its wall time, and a table at the end. Exits 1 if any entry fails.
#   bash scripts/runtimes/run.sh [entry ...]    entries: node22 node24 bun deno workerd edge bundle
#
# - node22, node24: the whole vitest suite, with better-sqlite3 13 (Node-API) instead of the
#   repository's 12 (built for the machine's Node), and node:sqlite beside it.
# - bun, deno: vitest itself, run by that runtime (its workers are that runtime too), on the core,
#   the Redis store (ioredis), the PostgreSQL store (pg, postgres.js), the SQLite store on the
#   runtime's built-in SQLite, and the AI SDK middleware.
# - workerd (miniflare, no compatibility flags), edge (@edge-runtime/vm): the core and the AI SDK
#   middleware, from the built package bundled for the web (scripts/runtimes/web.mjs).
# - bundle: the core bundled with esbuild --platform=neutral has no external import; its sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/runtimes/install.sh
dir="$PWD/${RUNTIMES_DIR:-.runtimes}"
export RUNTIMES_DIR_ABS="$dir"
mods="$dir/node_modules"
node22="$mods/node22/bin"
node24="$mods/node24/bin"
bun="$mods/@oven/bun-linux-x64/bin/bun"
deno="$mods/@deno/linux-x64-glibc/deno"
vitest=node_modules/vitest/vitest.mjs

core="test/core/amount.test.ts test/core/engine.test.ts test/core/guards.test.ts test/core/limits.test.ts test/core/decision-schema.test.ts test/core/budget.test.ts test/core/calendar.test.ts test/core/policies.test.ts test/stores/memory/layout.test.ts test/stores/memory/conformance.test.ts test/store/conformance.test.ts"
stores="test/stores/redis/conformance.test.ts test/stores/postgres/conformance.test.ts test/stores/sqlite/conformance.test.ts"
ai="test/integrations/ai-sdk.test.ts test/integrations/pricing.test.ts"

with_sqlite13() {
  NODE_OPTIONS="--import=$PWD/scripts/runtimes/better-sqlite3-13.mjs ${NODE_OPTIONS:-}" PATH="$1:$PATH" "$1/node" "${@:2}"
}

entry() {
  case "$1" in
    node22) with_sqlite13 "$node22" "$vitest" run ;;
    node24) with_sqlite13 "$node24" "$vitest" run ;;
    # The multi-process SQLite test runs its workers with `bun file.ts` (Bun reads tsconfig paths).
    bun) "$bun" --bun "$vitest" run $core $stores test/stores/sqlite/processes.test.ts $ai ;;
    deno) "$deno" run -A "$vitest" run $core $stores $ai ;;
    workerd) "$node22/node" scripts/runtimes/web.mjs workerd ;;
    edge) "$node22/node" scripts/runtimes/web.mjs edge ;;
    bundle) node scripts/runtimes/bundle-size.mjs ;;
    *) echo "unknown entry $1" >&2; return 2 ;;
  esac
}

version() {
  case "$1" in
    node22) "$node22/node" --version ;;
    node24) "$node24/node" --version ;;
    bun) echo "bun $("$bun" --version)" ;;
    deno) "$deno" --version | head -n 1 | cut -d' ' -f1-2 ;;
    workerd) echo "workerd $(node -p "require('$mods/workerd/package.json').version") (miniflare $(node -p "require('$mods/miniflare/package.json').version"))" ;;
    edge) echo "@edge-runtime/vm $(node -p "require('$mods/@edge-runtime/vm/package.json').version")" ;;
    bundle) echo "esbuild $(node -p "require('esbuild/package.json').version")" ;;
  esac
}

npm run build --silent >/dev/null
entries=("$@")
[ ${#entries[@]} -gt 0 ] || entries=(node22 node24 bun deno workerd edge bundle)
summary=()
failed=0
for name in "${entries[@]}"; do
  echo
  echo "=== runtime matrix: $name ($(version "$name")) ==="
  start=$(date +%s)
  if entry "$name"; then result=ok; else result=FAILED; failed=$((failed + 1)); fi
  seconds=$(($(date +%s) - start))
  echo "=== $name: $result in ${seconds}s ==="
  summary+=("$(printf '%-8s %-44s %-7s %5ss' "$name" "$(version "$name")" "$result" "$seconds")")
done

echo
echo "runtime matrix:"
printf '  %s\n' "${summary[@]}"
echo "matrix: $((${#entries[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
