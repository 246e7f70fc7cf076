import { describeStoreConformance } from "budgetgate/store/conformance";
import postgres from "postgres";
import { afterAll, describe } from "vitest";
import { PostgresStore } from "../../../src/stores/postgres.js";
import { findService } from "../../support/services.js";
import { dropPrefix, testPool, testPrefix } from "./support/setup.js";

const service = await findService("DATABASE_URL");

describe.skipIf(!service.ok)("PostgresStore on a pg Pool", () => {
  const pool = testPool(service.url);
  const prefix = testPrefix("conf");
  afterAll(async () => {
    await dropPrefix(pool, prefix);
    await pool.end();
  });
  describeStoreConformance("PostgresStore (pg)", {
    async create() {
      const store = new PostgresStore(pool, { prefix });
      await store.migrate();
      return store;
    },
  });
});

describe.skipIf(!service.ok)("PostgresStore on postgres.js", () => {
  const sql = postgres(service.url, { max: 8, onnotice: () => {} });
  const pool = testPool(service.url, { max: 1 });
  const prefix = testPrefix("confjs");
  afterAll(async () => {
    await dropPrefix(pool, prefix);
    await pool.end();
    await sql.end();
  });
  describeStoreConformance("PostgresStore (postgres.js)", {
    async create() {
      const store = new PostgresStore(sql, { prefix });
      await store.migrate();
      return store;
    },
  });
});
