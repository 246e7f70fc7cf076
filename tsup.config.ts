import { existsSync } from "node:fs";
import { defineConfig } from "tsup";

// One entry per subpath export. Integrations import the core as "budgetgate" and leave it external,
// so that the core exists once at run time and once in the type declarations: a Ledger made by the
// core is the Ledger a store's types expect (classes with private fields are nominal in TypeScript).
const entries: Record<string, string> = {
  index: "src/index.ts",
  redis: "src/stores/redis.ts",
  sqlite: "src/stores/sqlite.ts",
  postgres: "src/stores/postgres.ts",
  "ai-sdk": "src/integrations/ai-sdk.ts",
  openai: "src/integrations/openai.ts",
  anthropic: "src/integrations/anthropic.ts",
};

export default defineConfig({
  entry: Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file))),
  format: ["esm", "cjs"],
  dts: true,
  external: ["budgetgate"],
  splitting: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  treeshake: true,
});
