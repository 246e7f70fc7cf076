// A consumer's bundle of the core, built from the package (dist/) with esbuild --platform=neutral:
// it must have no external import (no Node built-in, nothing left to the host), and its minified
// and gzipped sizes are the ones the README quotes. Exits 1 if anything stayed external.

import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../..", import.meta.url));
const consumer = `
import { Budget, Engine, Ledger } from "budgetgate";
const engine = new Engine();
export const check = (user) => engine.check(new Ledger("openai", "gpt-4o", user), "0.03", new Budget({ maxSpend: "10" }));
`;

const result = await build({
  stdin: { contents: consumer, resolveDir: root, loader: "js" },
  bundle: true,
  platform: "neutral",
  format: "esm",
  minify: true,
  write: false,
  metafile: true,
  logLevel: "warning",
  alias: { budgetgate: `${root}dist/index.js`, "budgetgate/store": `${root}dist/store.js` },
});
const external = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external));
const code = result.outputFiles[0].contents;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `core bundle (esbuild --platform=neutral --minify): ${kib(code.length)} minified, ${kib(gzipSync(code).length)} gzipped, external imports: ${external.map((i) => i.path).join(", ") || "none"}`,
);
if (external.length > 0) process.exitCode = 1;
