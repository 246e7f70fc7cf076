import { defineConfig } from "tsup";

// One entry per subpath export. Integrations import the core as "budgetgate" and leave it external,
// so that the core exists once at run time and once in the type declarations: a Ledger made by the
// core is the Ledger a store's types expect (classes with private fields are nominal in TypeScript).
export default defineConfig({
  entry: {
    index: "src/index.ts",
    store: "src/store.ts",
    "store/conformance": "src/store/conformance.ts",
    redis: "src/stores/redis.ts",
    sqlite: "src/stores/sqlite.ts",
    postgres: "src/stores/postgres.ts",
    "ai-sdk": "src/integrations/ai-sdk.ts",
    openai: "src/integrations/openai.ts",
    anthropic: "src/integrations/anthropic.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  external: ["budgetgate"],
  // The SQLite driver finds its own file through import.meta.url in ESM and __filename in CJS.
  shims: true,
  splitting: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  treeshake: true,
});
