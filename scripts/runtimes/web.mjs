// Runs the portable checks (test/runtimes/portable.ts) inside workerd, through miniflare with no
// compatibility flags, or inside Vercel's Edge runtime (@edge-runtime/vm), against the built
// package (dist/): `node scripts/runtimes/web.mjs workerd|edge`. The bundle is made for the web
// (esbuild, platform browser), so an import of a Node built-in fails the build, not just the run.
// Prints one line per check and the closing "N passed, N failed"; exits 1 on any failure.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const runtime = process.argv[2];
const root = fileURLToPath(new URL("../..", import.meta.url));
const runtimes = process.env.RUNTIMES_DIR_ABS ?? join(root, ".runtimes");
const work = mkdtempSync(join(tmpdir(), `budgetgate-${runtime}-`));

async function bundle(entry, format) {
  const outfile = join(work, format === "esm" ? "worker.mjs" : "edge.js");
  await build({
    entryPoints: [join(root, "test/runtimes", entry)],
    bundle: true,
    format,
    platform: "browser",
    target: "es2022",
    outfile,
    logLevel: "warning",
    alias: {
      budgetgate: join(root, "dist/index.js"),
      "budgetgate/store": join(root, "dist/store.js"),
      "budgetgate/ai-sdk": join(root, "dist/ai-sdk.js"),
    },
  });
  return outfile;
}

async function inWorkerd() {
  const { Miniflare } = await import(join(runtimes, "node_modules/miniflare/dist/src/index.js"));
  const script = await bundle("worker-entry.ts", "esm");
  // The module listed whole: miniflare would otherwise walk its imports and refuse the AI SDK's
  // dynamic import() of a computed name (a branch that never runs here).
  const mf = new Miniflare({
    modulesRoot: work,
    modules: [{ type: "ESModule", path: script, contents: readFileSync(script, "utf8") }],
    compatibilityDate: "2026-07-01",
    compatibilityFlags: [],
  });
  try {
    const response = await mf.dispatchFetch("http://localhost/");
    if (!response.ok) throw new Error(`the Worker answered ${response.status}: ${await response.text()}`);
    return await response.json();
  } finally {
    await mf.dispose();
  }
}

async function inEdge() {
  const { EdgeVM } = await import(join(runtimes, "node_modules/@edge-runtime/vm/dist/index.js"));
  const vm = new EdgeVM();
  vm.evaluate(readFileSync(await bundle("edge-entry.ts", "iife"), "utf8"));
  return await vm.evaluate("globalThis.portableChecks");
}

try {
  const results = runtime === "workerd" ? await inWorkerd() : runtime === "edge" ? await inEdge() : null;
  if (results === null) throw new Error(`usage: web.mjs workerd|edge (got ${runtime})`);
  for (const r of results) console.log(`${r.ok ? "  ✓" : "  ✗"} ${r.name}${r.ok ? "" : `\n${r.error}`}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${runtime}: ${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && results.length > 0 ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
