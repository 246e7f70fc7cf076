#!/usr/bin/env bash
# Packs the library and proves the tarball works for its users: it imports and type-checks from an
# ESM and a CommonJS consumer, publint finds nothing wrong with package.json, and
# are-the-types-wrong resolves types for every entry point under every module resolution.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run build --silent
# The API reference builds from the TSDoc with no warning: no broken {@link}, no undocumented export.
npm run docs:api --silent
# Integrations import the core as "budgetgate"; a relative import would bundle a second copy of it,
# whose classes would fail the core's instanceof checks.
copies=$(grep -l "var InvalidAmountError = class" dist/*.js dist/*.cjs | grep -v '/index\.' || true)
if [ -n "$copies" ]; then echo "a subpath bundles its own copy of the core: $copies" >&2; exit 1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"

npx publint --strict "$work/$tarball"
# Entry points whose optional peers are missing still resolve types: they use structural types only.
npx attw "$work/$tarball" --profile node16 --format table-flipped

consumer="$work/consumer"
mkdir -p "$consumer"
cd "$consumer"
cat > package.json <<'JSON'
{ "name": "consumer", "private": true, "version": "0.0.0" }
JSON
npm install --silent --no-audit --no-fund "$work/$tarball" typescript@5.9.3 @types/node@20 >/dev/null

cat > esm.mts <<'TS'
import { Amount, Budget, Engine, Ledger, BudgetExceeded, type Decision } from "budgetgate";
const engine = new Engine();
const ledger = new Ledger("openai", "gpt-4o", "user:1");
const decision: Decision = await engine.check(ledger, "0.03", new Budget({ maxSpend: "0.05" }));
const again = await engine.check(ledger, "0.03", new Budget({ maxSpend: "0.05" }));
if (!decision.allowed || again.allowed) throw new Error("unexpected decisions");
if (!(new BudgetExceeded(again) instanceof Error)) throw new Error("BudgetExceeded is not an Error");
console.log("esm ok", Amount.from("10.00").minus("0.03").toString());
TS
cat > cjs.cts <<'TS'
import budgetgate = require("budgetgate");
const { Amount, Budget, Engine, Ledger } = budgetgate;
async function main(): Promise<void> {
  const engine = new Engine();
  const d = await engine.check(new Ledger("a", "b"), 1, new Budget({ maxSpend: 1 }));
  if (!d.allowed) throw new Error("expected an allow");
  console.log("cjs ok", Amount.from(0.1).plus(0.2).toString());
}
void main();
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "strict": true, "module": "node16", "moduleResolution": "node16", "target": "es2022", "noEmit": true, "skipLibCheck": false, "types": ["node"] }, "files": ["esm.mts", "cjs.cts"] }
JSON
npx tsc -p tsconfig.json
npx tsc -p tsconfig.json --noEmit false --outDir out
node out/esm.mjs
node out/cjs.cjs
# Every subpath loads from both module systems without its optional peers being needed at import.
for entry in $(node -e 'const e=require("budgetgate/package.json").exports;console.log(Object.keys(e).filter(k=>k!=="./package.json").map(k=>("budgetgate"+k.slice(1))).join(" "))'); do
  node --input-type=module -e "await import('$entry')" && node -e "require('$entry')" && echo "loads: $entry (esm, cjs)"
done
echo "package check passed"
