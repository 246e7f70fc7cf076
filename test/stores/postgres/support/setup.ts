/**
 * Shared helpers of the PostgreSQL tests: a pool on the test database, and tables under a prefix
 * of their own per test file and run, dropped afterwards, so that files and runs never meet.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { PostgresStore, type PostgresStoreOptions } from "../../../../src/stores/postgres/index.js";

/** A fresh prefix such as `bgt_conf_1a2b3c4d`. */
export function testPrefix(label: string): string {
  return `bgt_${label}_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
}

/** A pg pool whose idle-connection errors (a server going away) are expected, not fatal. */
export function testPool(url: string, config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 8, ...config });
  pool.on("error", () => {});
  return pool;
}

/** Drops every table and function whose name starts with `prefix_`. */
export async function dropPrefix(pool: pg.Pool, prefix: string): Promise<void> {
  const { rows } = await pool.query<{ kind: string; name: string }>(
    `SELECT 'TABLE' AS kind, c.oid::regclass::text AS name FROM pg_class c
       WHERE c.relkind = 'r' AND c.relname LIKE $1
     UNION ALL
     SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE $1`,
    [`${prefix}\\_%`],
  );
  for (const { kind, name } of rows) await pool.query(`DROP ${kind} IF EXISTS ${name} CASCADE`);
}

/** A migrated store under a fresh prefix. */
export async function migratedStore(
  pool: pg.Pool,
  label: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const store = new PostgresStore(pool, { prefix: testPrefix(label), ...options });
  await store.migrate();
  return store;
}

/** A pool, the prefix in use, and the store once migrated. */
export interface SuiteStore {
  readonly pool: pg.Pool;
  readonly prefix: string;
  /** The migrated store; available from the tests on (after beforeAll). */
  readonly store: PostgresStore;
}

/**
 * For the enclosing describe: a pool on `url`, and a store migrated under a fresh prefix before its
 * tests; the prefix's tables are dropped and the pool ended after them.
 */
export function suiteStore(url: string, label: string): SuiteStore {
  const pool = testPool(url);
  const prefix = testPrefix(label);
  let store: PostgresStore | undefined;
  beforeAll(async () => {
    store = new PostgresStore(pool, { prefix });
    await store.migrate();
  });
  afterAll(async () => {
    await dropPrefix(pool, prefix);
    await pool.end();
  });
  return {
    pool,
    prefix,
    get store(): PostgresStore {
      if (store === undefined) throw new Error(`the ${label} store is used before its migration ran`);
      return store;
    },
  };
}
