import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Shared-server suites start their own processes and servers; keep files from starving each other.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
