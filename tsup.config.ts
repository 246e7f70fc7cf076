import { defineConfig } from "tsup";

// One entry per subpath export. Splitting keeps the core in one shared chunk, so that classes such
// as Amount or ReservationNotFoundError are the same objects whichever subpath imported them.
export default defineConfig({
  entry: {
    index: "src/index.ts",
    redis: "src/stores/redis.ts",
    sqlite: "src/stores/sqlite.ts",
    postgres: "src/stores/postgres.ts",
    "ai-sdk": "src/integrations/ai-sdk.ts",
    openai: "src/integrations/openai.ts",
    anthropic: "src/integrations/anthropic.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  splitting: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  treeshake: true,
});
