import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import the package by its published names, resolved to the sources (as tsconfig's paths do).
const source = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^budgetgate$/, replacement: source("./src/index.ts") },
      { find: /^budgetgate\/store$/, replacement: source("./src/store.ts") },
      { find: /^budgetgate\/store\/conformance$/, replacement: source("./src/store/conformance.ts") },
      { find: /^budgetgate\/redis$/, replacement: source("./src/stores/redis/index.ts") },
      { find: /^budgetgate\/sqlite$/, replacement: source("./src/stores/sqlite/index.ts") },
      { find: /^budgetgate\/postgres$/, replacement: source("./src/stores/postgres/index.ts") },
      { find: /^budgetgate\/(ai-sdk|openai|anthropic)$/, replacement: source("./src/integrations/$1.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Shared-server suites start their own processes and servers; two workers on two cores.
    maxWorkers: 2,
  },
});
