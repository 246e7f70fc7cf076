import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { SqliteStore } from "../src/stores/sqlite.js";
import { describeStoreConformance } from "./support/conformance.js";

const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreConformance("SqliteStore (:memory:)", {
  create: () => new SqliteStore(":memory:"),
  destroy: (store) => store.close?.(),
});

describeStoreConformance("SqliteStore (file, WAL)", {
  create: () => new SqliteStore(join(dir, "conformance.db")),
  destroy: (store) => store.close?.(),
});
