import { describeStoreConformance, type FaultSetup } from "budgetgate/store/conformance";
import postgres from "postgres";
import { afterAll, describe } from "vitest";
import { PostgresStore } from "../../../src/stores/postgres/index.js";
import { sparePort } from "../../support/ports.js";
import { findService } from "../../support/services.js";
import { dropPrefix, testPool, testPrefix } from "./support/setup.js";

const service = await findService("DATABASE_URL");

/**
 * PostgreSQL in trouble: a prefix never migrated, a port nothing listens on, and the ledgers table
 * locked by another connection (`lock` gives that connection, `prefix` the store's tables).
 */
function faults(prefix: string, unmigrated: string): FaultSetup {
  const pools: ReturnType<typeof testPool>[] = [];
  const pool = (url: string) => {
    const made = testPool(url, { max: 2 });
    pools.push(made);
    return made;
  };
  return {
    misconfigured: () => new PostgresStore(pool(service.url), { prefix: unmigrated }),
    unreachable: async () => new PostgresStore(pool(`postgres://postgres@127.0.0.1:${await sparePort()}/test`)),
    stall: async (store) => {
      const client = await pool(service.url).connect();
      await client.query("BEGIN");
      await client.query(`LOCK TABLE ${prefix}_ledgers IN ACCESS EXCLUSIVE MODE`);
      return {
        store,
        end: async () => {
          await client.query("ROLLBACK");
          client.release();
        },
      };
    },
    close: async () => {
      await Promise.all(pools.splice(0).map((p) => p.end()));
    },
  };
}

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
    faults: faults(prefix, testPrefix("never")),
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
    faults: faults(prefix, testPrefix("never")),
  });
});
