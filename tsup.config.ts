import { defineConfig } from "tsup";

// One entry per subpath export. Integrations import the core as "budgetgate" and leave it external,
// so that the core exists once at run time and once in the type declarations: a Ledger made by the
// core is the Ledger a store's types expect (classes with private fields are nominal in TypeScript).
//
// ES modules only: one build means one copy of every class, whichever way a user loads the package
// (CommonJS users `require()` it through Node's require(esm), 20.19+ and 22.12+).
export default defineConfig({
  entry: {
    index: "src/index.ts",
    store: "src/store.ts",
    "store/conformance": "src/store/conformance.ts",
    redis: "src/stores/redis/index.ts",
    sqlite: "src/stores/sqlite/index.ts",
    postgres: "src/stores/postgres/index.ts",
    "ai-sdk": "src/integrations/ai-sdk.ts",
    openai: "src/integrations/openai.ts",
    anthropic: "src/integrations/anthropic.ts",
  },
  format: ["esm"],
  dts: true,
  external: ["budgetgate"],
  // Keep `node:` on the imports of the Node-only entries: Deno and Bun resolve the prefixed names,
  // and a bundler for the web can tell them from npm packages.
  removeNodeProtocol: false,
  splitting: false,
  sourcemap: true,
  clean: true,
  target: "es2022",
  treeshake: true,
});
