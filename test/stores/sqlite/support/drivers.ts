/**
 * The SQLite drivers each runtime of the matrix runs the SQLite suites with: every driver the
 * runtime has, so that none is skipped where it exists (a missing one fails the suite).
 */
import type { SqliteDriver } from "../../../../src/stores/sqlite/driver.js";

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

/** Node 22.13 is the first 22 whose node:sqlite loads without a flag. */
function nodeHasSqlite(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 13);
}

export const sqliteDrivers: readonly SqliteDriver[] =
  runtime === "bun"
    ? ["bun:sqlite"]
    : runtime === "deno"
      ? ["node:sqlite"]
      : nodeHasSqlite()
        ? ["better-sqlite3", "node:sqlite"]
        : ["better-sqlite3"];

/**
 * The command line that runs a TypeScript file on the runtime running the tests: Node through tsx,
 * Bun as is (it reads tsconfig's paths). The multi-process tests are not run on Deno, which would
 * need an import map for the package's own names.
 */
export function scriptCommand(path: string, ...args: string[]): [string, string[]] {
  if (runtime === "deno") throw new Error("scriptCommand: the multi-process tests do not run on Deno");
  return runtime === "node"
    ? [process.execPath, ["--import", "tsx", path, ...args]]
    : [process.execPath, [path, ...args]];
}
