// Preloaded (node --import) by the Node 22 and 24 entries of the matrix: better-sqlite3 resolves to
// the Node-API build of better-sqlite3 13 in .runtimes/, not to the repository's 12, which is built
// for the machine's Node. The resolved URL is rewritten, so that a bare `better-sqlite3` and a path
// already resolved by vitest both land there; registerHooks covers require() too, in every process
// that inherits NODE_OPTIONS (vitest's workers, the multi-process tests' children).
import { registerHooks } from "node:module";
import { pathToFileURL } from "node:url";

const dir = process.env.RUNTIMES_DIR_ABS;
if (!dir) throw new Error("better-sqlite3-13.mjs: RUNTIMES_DIR_ABS is not set (scripts/runtimes/run.sh sets it)");
const repository = new URL("../../node_modules/better-sqlite3/", import.meta.url).href;
const replacement = pathToFileURL(`${dir}/node_modules/better-sqlite3/`).href;

registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    if (!resolved.url.startsWith(repository)) return resolved;
    return { ...resolved, url: replacement + resolved.url.slice(repository.length) };
  },
});
