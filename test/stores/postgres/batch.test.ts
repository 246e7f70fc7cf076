/**
 * PostgresStore's batches, on both drivers: calls in flight together share one statement and one
 * transaction, yet each is decided in order on what the ones before it left, gets its own answer,
 * and fails alone.
 */
import { randomUUID } from "node:crypto";
import { Ledger } from "budgetgate";
import type { StoreCall, StoreLine } from "budgetgate/store";
import pg from "pg";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { type PostgresClient, type PostgresDriver, toDriver } from "../../../src/stores/postgres/driver.js";
import { PostgresStore } from "../../../src/stores/postgres/index.js";
import { storedKey } from "../../../src/stores/postgres/keys.js";
import { expectDecidedInOrder, expectFailuresAlone } from "../../support/batch-outcomes.js";
import { findService } from "../../support/services.js";
import { dropPrefix, testPrefix } from "./support/setup.js";

const service = await findService("DATABASE_URL");

const U = 10n ** 18n;
const call = (timeoutMs = 10_000): StoreCall => ({
  now: undefined,
  timeoutMs,
  deadline: Date.now() + timeoutMs,
  signal: new AbortController().signal,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ledger = () => new Ledger(`b${randomUUID().replaceAll("-", "").slice(0, 10)}`, "model", "hot");
const line = (
  l: Ledger,
  max: bigint,
  window: StoreLine["limits"][number]["window"] = { kind: "lifetime", id: "life" },
) => ({
  ledger: l,
  key: l.toString(),
  limits: [{ window, maxSpend: max * U, enforce: true }],
});

/** The client's driver, noting how many calls each batch statement carried. */
function counting(client: PostgresClient): { driver: PostgresDriver; sizes: number[] } {
  const inner = toDriver(client);
  const sizes: number[] = [];
  return {
    sizes,
    driver: {
      async acquire() {
        const session = await inner.acquire();
        return {
          query(name, text, params) {
            if (name.endsWith(":decide_many")) sizes.push((params[0] as unknown[]).length);
            return session.query(name, text, params);
          },
          script: (text) => session.script(text),
          release: (broken) => session.release(broken),
        };
      },
    },
  };
}

describe.skipIf(!service.ok)("PostgresStore batches", () => {
  const pool = new pg.Pool({ connectionString: service.url, max: 8 });
  const sql = postgres(service.url, { max: 8, onnotice: () => {} });
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const prefix of prefixes) await dropPrefix(pool, prefix);
    await pool.end();
    await sql.end();
  });

  for (const [name, client] of [
    ["pg", pool],
    ["postgres.js", sql],
  ] as const) {
    async function fresh() {
      const prefix = testPrefix("batch");
      prefixes.push(prefix);
      const { driver, sizes } = counting(client);
      const store = new PostgresStore(driver, { prefix });
      await store.migrate();
      return { store, sizes, prefix };
    }

    async function spentOn(prefix: string, l: Ledger): Promise<bigint> {
      const { rows } = await pool.query(
        `SELECT trunc(recorded * 1e18)::text AS units FROM ${prefix}_ledgers WHERE key = $1`,
        [storedKey(l.toString())],
      );
      return rows[0] === undefined ? 0n : BigInt(rows[0].units);
    }

    it(`${name}: decides 100 callers on one ledger in the order they came, each on what the ones before it left`, async () => {
      const { store, sizes, prefix } = await fresh();
      const l = ledger();
      const max = 150n;
      // Amounts of 1 to 5 U, 300 U asked of 150: about half must be blocked, some after larger ones were.
      const amounts = Array.from({ length: 100 }, (_, i) => BigInt((i * 7) % 5) * U + U);
      const verdicts = await Promise.all(amounts.map((amount) => store.charge([line(l, max)], amount, call())));
      expect(sizes).toEqual([64, 36]); // bounded batches, one after the other
      const total = expectDecidedInOrder(amounts, verdicts, max * U);
      expect(await spentOn(prefix, l)).toBe(total);
    });

    it(`${name}: fails a call in the middle of a batch alone, with its own typed error, writing nothing of it`, async () => {
      const { store, sizes, prefix } = await fresh();
      const hot = ledger();
      const fresh1 = ledger();
      const fresh2 = ledger();
      const taken = { id: randomUUID(), ttl: 60, retain: 60 };
      await store.reserve([line(hot, 100n)], U, taken, call());
      sizes.length = 0;
      // Six calls in one tick, one batch: the failures second and fifth.
      const outcomes = await Promise.allSettled([
        store.charge([line(hot, 100n)], 2n * U, call()),
        // A hold id already taken, on a ledger not yet there: its row is made, then the insert fails.
        store.reserve([line(fresh1, 100n)], U, taken, call()),
        store.charge([line(hot, 100n)], 3n * U, call()),
        store.charge([line(hot, 100n)], 4n * U, call()),
        // A calendar window whose periods do not hold the time.
        store.charge([line(fresh2, 100n, { kind: "calendar", id: "c:old", boundaries: [0, 1] })], U, call()),
        store.charge([line(hot, 100n)], 5n * U, call()),
      ]);
      expect(sizes).toEqual([6]);
      expectFailuresAlone(outcomes);
      expect(await spentOn(prefix, hot)).toBe(14n * U);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${prefix}_ledgers WHERE key = ANY ($1)`, [
        [storedKey(fresh1.toString()), storedKey(fresh2.toString())],
      ]);
      expect(rows[0]?.n).toBe(0);
    });

    it(`${name}: sends again, alone, a call whose lock wait the time of the calls decided before it cut short`, async () => {
      const { store, sizes, prefix } = await fresh();
      const quick = ledger();
      const waiting = ledger();
      // Another session is creating the second call's ledger: its insert waits for that session.
      const other = await pool.connect();
      await other.query("BEGIN");
      await other.query(`INSERT INTO ${prefix}_ledgers (key) VALUES ($1)`, [storedKey(waiting.toString())]);
      const started = Date.now();
      const settledAt: number[] = [];
      const noted = <T>(promise: Promise<T>, i: number) =>
        promise.then((value) => {
          settledAt[i] = Date.now() - started;
          return value;
        });
      const both = Promise.allSettled([
        noted(store.charge([line(quick, 10n)], U, call(600)), 0),
        noted(store.charge([line(waiting, 10n)], U, call(10_000)), 1),
      ]);
      await sleep(1000);
      await other.query("ROLLBACK");
      other.release();
      const [first, second] = await both;
      // The first call's batch did not wait for the lock past the first call's time, nor fail.
      expect(first).toMatchObject({ status: "fulfilled", value: { allowed: true } });
      expect(settledAt[0]).toBeLessThan(600);
      // The second went again once the batch committed, and waited, on its own time, for the lock.
      expect(second).toMatchObject({ status: "fulfilled", value: { allowed: true } });
      expect(settledAt[1]).toBeGreaterThanOrEqual(1000);
      expect(sizes).toEqual([2]); // then alone, as decide()
      expect(await spentOn(prefix, quick)).toBe(U);
      expect(await spentOn(prefix, waiting)).toBe(U);
    });

    it(`${name}: reads inside a batch see the charges before them in it`, async () => {
      const { store, sizes } = await fresh();
      const l = ledger();
      const [first, reading, second] = await Promise.all([
        store.charge([line(l, 10n)], 4n * U, call()),
        store.read(line(l, 10n), call()),
        store.charge([line(l, 10n)], 7n * U, call()),
        store.charge([line(l, 10n)], U, call()),
      ]);
      expect(sizes).toEqual([4]);
      expect(first.allowed).toBe(true);
      expect(reading.state.committed).toEqual([4n * U]);
      expect(second.allowed).toBe(false);
    });
  }
});
