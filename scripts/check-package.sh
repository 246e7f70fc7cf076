#!/usr/bin/env bash
# Packs the library and proves the tarball works for its users: it imports and type-checks from an
# ESM and a CommonJS consumer, installs beside every AI SDK major the middleware supports, ships
# the decision schema as budgetgate/decision.schema.json, publint finds nothing wrong with
# package.json, and are-the-types-wrong resolves types for every entry point under the resolutions
# an ES-only package serves. The package is ES modules only; CommonJS code loads it with
# require(esm) (Node 20.19+).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

npm run build --silent
# The API reference builds from the TSDoc with no warning: no broken {@link}, no undocumented export.
npm run docs:api --silent
# Integrations import the core as "budgetgate"; a relative import would bundle a second copy of it,
# whose classes would fail the core's instanceof checks.
# The same holds between the core and budgetgate/store, which import each other by name only: each
# side's code is in its own entry, and a subpath's types refer to the core's Ledger, never a copy.
only_in() {
  local entry=$1 marker=$2 files
  files=$(grep -rlF --include='*.js' --include='*.cjs' --include='*.d.ts' --include='*.d.cts' "$marker" dist \
    | grep -v "^dist/$entry\." || true)
  if [ -n "$files" ]; then echo "a subpath bundles its own copy of $entry's $marker: $files" >&2; exit 1; fi
}
only_in index "var InvalidAmountError = class"
only_in index "declare class Ledger"
only_in store "function show("
only_in store "function verdictOf("
only_in store "function describeError("
if ls dist/*.cjs >/dev/null 2>&1; then echo "dist holds a CommonJS build: one copy of every class means ESM only" >&2; exit 1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"

npx publint --strict "$work/$tarball"
# esm-only: node16 from ES modules and bundler resolution; a CommonJS `require` gets the ES module.
npx attw "$work/$tarball" --profile esm-only --format table-flipped

consumer="$work/consumer"
mkdir -p "$consumer"
cd "$consumer"
cat > package.json <<'JSON'
{ "name": "consumer", "private": true, "version": "0.0.0" }
JSON
npm install --silent --no-audit --no-fund "$work/$tarball" typescript@5.9.3 @types/node@20 >/dev/null
# `npm i budgetgate ai@N` for each AI SDK major the tests run against (the versions pinned in our
# devDependencies): npm refuses the install when the peer range leaves one out.
for ai in $(node -e 'const d=require(process.argv[1]).devDependencies;console.log([d.ai,d["ai-v5"],d["ai-v7"]].map(v=>"ai@"+v.replace(/^npm:ai@/,"")).join(" "))' "$repo/package.json"); do
  npm install --silent --no-audit --no-fund --no-save --engine-strict=false "$ai" >/dev/null
  echo "installs beside $ai"
done
# vitest, the optional peer of budgetgate/store/conformance, is the repository's own (same version).
ln -s "$repo/node_modules/vitest" node_modules/vitest

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
# TypeScript's nodenext lets a .cts `require` an ES module without top-level await, as Node does.
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
{ "compilerOptions": { "strict": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "noEmit": true, "skipLibCheck": false, "types": ["node"] }, "files": ["esm.mts", "cjs.cts"] }
JSON
npx tsc -p tsconfig.json
npx tsc -p tsconfig.json --noEmit false --outDir out
node out/esm.mjs
node out/cjs.cjs
# The decision schema resolves from both module systems, and is the version the library writes.
node --input-type=module -e "
import { createRequire } from 'node:module';
import imported from 'budgetgate/decision.schema.json' with { type: 'json' };
import { DECISION_SCHEMA_VERSION } from 'budgetgate';
const required = createRequire(import.meta.url)('budgetgate/decision.schema.json');
for (const schema of [imported, required]) {
  const version = schema.properties.schema_version.const;
  if (version !== DECISION_SCHEMA_VERSION) throw new Error('schema_version ' + version + ', library ' + DECISION_SCHEMA_VERSION);
}"
echo "loads: budgetgate/decision.schema.json (import, require), its schema_version is the library's"

# A CommonJS program that requires the packed package: it gets the one ES build, so an Engine from
# `import()` is the Engine a `require`d integration checks for (two builds held two Engine classes).
cat > identity.cjs <<'JS'
const core = require("budgetgate");
const { budgetMiddleware } = require("budgetgate/ai-sdk");
import("budgetgate").then(async (esm) => {
  if (esm.Engine !== core.Engine) throw new Error("require and import gave two Engine classes");
  const middleware = budgetMiddleware({
    engine: new esm.Engine(),
    ledger: () => new core.Ledger("openai", "gpt-4o"),
    budget: new core.Budget({ maxSpend: "1" }),
    estimate: "0.01",
    prices: { input: "1", output: "1" },
  });
  if (typeof middleware.wrapGenerate !== "function") throw new Error("no middleware");
  console.log("require(esm) ok: one Engine class for require and import");
});
JS
node identity.cjs
# Every code subpath loads from both module systems without its optional peers being needed at import.
for entry in $(node -e 'const e=require("budgetgate/package.json").exports;console.log(Object.keys(e).filter(k=>!k.endsWith(".json")).map(k=>("budgetgate"+k.slice(1))).join(" "))'); do
  node --input-type=module -e "await import('$entry')" && node -e "require('$entry')" && echo "loads: $entry (import, require)"
done
# A third-party store runs the conformance suite from its own vitest tests, as store.ts tells it to:
# the repository's test of exactly that imports published names only, so it runs here unchanged.
cp "$repo/test/store/conformance.test.ts" own-store.test.mts
npx tsc --strict --module node16 --moduleResolution node16 --target es2022 --noEmit --types node own-store.test.mts
node node_modules/vitest/vitest.mjs run --root . own-store.test.mts >/dev/null
echo "conformance suite runs from budgetgate/store/conformance"
echo "package check passed"
