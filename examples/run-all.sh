#!/usr/bin/env bash
# Runs every example in examples/ (examples/*.ts; helpers live in examples/support/) offline, one
# after another, each under a time limit. Prints each one's output and a summary; exits non-zero if
# any example fails or times out. Usage: bash examples/run-all.sh   (or: npm run examples)
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

tsx="$root/node_modules/.bin/tsx"
if [[ ! -x "$tsx" ]]; then
  echo "run-all: $tsx not found; run 'npm ci' first" >&2
  exit 1
fi
limit="${EXAMPLE_TIMEOUT:-120}"

shopt -s nullglob
examples=(examples/*.ts)
if [[ ${#examples[@]} -eq 0 ]]; then
  echo "run-all: no examples found in examples/" >&2
  exit 1
fi

failed=()
for example in "${examples[@]}"; do
  echo "=== $example"
  start=$(date +%s)
  timeout --kill-after=5 "$limit" "$tsx" "$example"
  status=$?
  elapsed=$(( $(date +%s) - start ))
  if [[ $status -eq 0 ]]; then
    echo "--- ok: $example (${elapsed}s)"
  else
    [[ $status -eq 124 ]] && why="timed out after ${limit}s" || why="exit status $status"
    echo "--- FAILED: $example ($why)"
    failed+=("$example")
  fi
  echo
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run-all: ${#failed[@]} of ${#examples[@]} examples failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-all: all ${#examples[@]} examples passed"
