/**
 * PostgresStore beyond the conformance suite: the explicit schema, exact NUMERIC state, bounded
 * expiry, server-side time bounds (a lock held past the timeout, a deadline passed in the pool),
 * several-ledger charges in opposite orders, and keys PostgreSQL text cannot hold as they are.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  Amount,
  BlockReason,
  Budget,
  ConfigurationError,
  Engine,
  Ledger,
  ReservationNotFoundError,
  Status,
  StoreError,
  StoreErrorMode,
} from "budgetgate";
import { LAYOUT_VERSION, PostgresStore, postgresSchema } from "budgetgate/postgres";
import { afterAll, describe, expect, it } from "vitest";
import { storedKey } from "../../../src/stores/postgres/keys.js";
import { findService } from "../../support/services.js";
import { dropPrefix, testPool, testPrefix } from "./support/setup.js";

const service = await findService("DATABASE_URL");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!service.ok)("PostgresStore", () => {
  const pool = testPool(service.url);
  const prefixes: string[] = [];
  const schemas: string[] = [];
  afterAll(async () => {
    for (const prefix of prefixes) await dropPrefix(pool, prefix);
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  async function fresh(label: string, options: { marginMs?: number } = {}) {
    const prefix = testPrefix(label);
    prefixes.push(prefix);
    const store = new PostgresStore(pool, { prefix, ...options });
    await store.migrate();
    return { store, prefix };
  }

  const ns = () => `p${randomUUID().replaceAll("-", "").slice(0, 10)}`;

  async function tables(prefix: string, schema = "public"): Promise<string[]> {
    const { rows } = await pool.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2 ORDER BY 1",
      [schema, `${prefix}\\_%`],
    );
    return rows.map((r) => r.name);
  }

  it("never allows a ledger whose key PostgreSQL cannot index, even under FAIL_OPEN", async () => {
    const store = new PostgresStore(pool, { prefix: testPrefix("long") });
    prefixes.push(store.names.prefix);
    await store.migrate();
    const engine = new Engine({ store });
    const open = new Budget({ maxSpend: "10", onStoreError: StoreErrorMode.FAIL_OPEN });
    // Refused when the ledger is made, or by the server when it is indexed: thrown either way.
    const check = (async () => engine.check(new Ledger(ns(), "m", randomBytes(6000).toString("base64")), "1", open))();
    const failure = await check.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(StoreError);
  });

  describe("schema", () => {
    it("creates nothing until migrate(), and throws a ConfigurationError naming migrate() before it, even under FAIL_OPEN", async () => {
      const prefix = testPrefix("nomig");
      prefixes.push(prefix);
      const store = new PostgresStore(pool, { prefix });
      expect(await tables(prefix)).toEqual([]);
      const engine = new Engine({ store });
      for (const onStoreError of [StoreErrorMode.FAIL_CLOSED, StoreErrorMode.FAIL_OPEN]) {
        const check = engine.check(new Ledger(ns(), "m"), "1", new Budget({ maxSpend: "10", onStoreError }));
        await expect(check).rejects.toBeInstanceOf(ConfigurationError);
        await expect(check).rejects.toThrow("store.migrate()");
      }
      expect(await tables(prefix)).toEqual([]);
      await store.migrate();
      expect(await tables(prefix)).toEqual([
        `${prefix}_graveyard`,
        `${prefix}_hold_lines`,
        `${prefix}_holds`,
        `${prefix}_ledgers`,
        `${prefix}_spends`,
      ]);
      expect((await engine.check(new Ledger(ns(), "m"), "1", new Budget({ maxSpend: "10" }))).allowed).toBe(true);
    });

    it("migrates idempotently, from several callers at once, keeping the data", async () => {
      const prefix = testPrefix("idem");
      prefixes.push(prefix);
      const stores = Array.from({ length: 4 }, () => new PostgresStore(pool, { prefix }));
      await Promise.all(stores.map((s) => s.migrate()));
      const engine = new Engine({ store: stores[0] as PostgresStore });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "1" });
      await engine.check(ledger, "0.4", budget);
      await (stores[1] as PostgresStore).migrate();
      expect((await engine.spent(ledger, budget)).toString()).toBe("0.4");
    });

    it("refuses, in calls and in migrate(), tables of another schema version, naming both and what to do", async () => {
      const { store, prefix } = await fresh("version");
      const ledger = new Ledger(ns(), "m");
      const open = new Budget({ maxSpend: "10", onStoreError: StoreErrorMode.FAIL_OPEN });
      const { rows } = await pool.query<{ comment: string }>(
        "SELECT obj_description($1::regclass, 'pg_class') AS comment",
        [`${prefix}_ledgers`],
      );
      expect(rows[0]?.comment).toBe(`budgetgate schema ${LAYOUT_VERSION}`);
      await pool.query(`COMMENT ON TABLE ${prefix}_ledgers IS 'budgetgate schema 99'`);
      const refusal = new RegExp(
        `table ${prefix}_ledgers holds budgetgate schema version "99"; this version of budgetgate reads version ${LAYOUT_VERSION}\\. .*tables of its own \\(option prefix or schema\\)`,
      );
      for (const late of [store, new PostgresStore(pool, { prefix })]) {
        const check = new Engine({ store: late }).check(ledger, "1", open);
        await expect(check).rejects.toBeInstanceOf(ConfigurationError);
        await expect(check).rejects.toThrow(refusal);
        await expect(late.migrate()).rejects.toThrow(refusal);
      }
      const after = await pool.query<{ comment: string }>(
        "SELECT obj_description($1::regclass, 'pg_class') AS comment",
        [`${prefix}_ledgers`],
      );
      expect(after.rows[0]?.comment).toBe("budgetgate schema 99"); // migrate() changed nothing
      expect((await pool.query(`SELECT 1 FROM ${prefix}_ledgers`)).rowCount).toBe(0);
      await pool.query(`COMMENT ON TABLE ${prefix}_ledgers IS NULL`);
      await expect(new Engine({ store: new PostgresStore(pool, { prefix }) }).check(ledger, "1", open)).rejects.toThrow(
        /holds no budgetgate schema version \(its comment is null\)/,
      );
    });

    it("puts its tables under the configured prefix and schema, apart from other stores", async () => {
      const schema = `bgt_s${randomUUID().replaceAll("-", "").slice(0, 8)}`;
      schemas.push(schema);
      const a = new PostgresStore(pool, { prefix: "acme", schema });
      const b = new PostgresStore(pool, { prefix: "other", schema });
      await a.migrate();
      await b.migrate();
      expect(await tables("acme", schema)).toContain("acme_ledgers");
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "1" });
      await new Engine({ store: a }).check(ledger, "1", budget);
      expect((await new Engine({ store: b }).check(ledger, "1", budget)).allowed).toBe(true);
      expect((await new Engine({ store: a }).check(ledger, "1", budget)).allowed).toBe(false);
    });

    it("rejects prefixes and schemas that are not plain lower-case identifiers", () => {
      for (const prefix of ["", "Budget", "a-b", "x; DROP TABLE t", "1abc", "a".repeat(41)]) {
        expect(() => new PostgresStore(pool, { prefix })).toThrow(/Invalid PostgresStore prefix/);
      }
      expect(() => new PostgresStore(pool, { schema: "public.x" })).toThrow(/Invalid PostgresStore schema/);
      expect(() => postgresSchema({ prefix: "A" })).toThrow(/lower-case SQL identifier/);
    });
  });

  describe("state", () => {
    it("keeps totals as exact NUMERIC in the table, and reads them back to the unit", async () => {
      const { store, prefix } = await fresh("exact");
      const engine = new Engine({ store });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "99999999999999999999.999999999999999999", window: null });
      for (const cost of ["0.1", "0.2", "12345678901234567.123456789012345678", "0.000000000000000001"]) {
        expect((await engine.check(ledger, cost, budget)).allowed).toBe(true);
      }
      const { rows } = await pool.query<{ recorded: string }>(
        `SELECT recorded::text FROM ${prefix}_ledgers WHERE key = $1`,
        [ledger.toString()],
      );
      expect(rows[0]?.recorded).toBe("12345678901234567.423456789012345679");
      expect((await engine.spent(ledger, budget)).toString()).toBe("12345678901234567.423456789012345679");
    });

    it("takes time from the server's clock when the engine has none", async () => {
      const { store, prefix } = await fresh("clock");
      const ledger = new Ledger(ns(), "m");
      await new Engine({ store }).check(ledger, "1", new Budget({ maxSpend: "5" }));
      const { rows } = await pool.query<{ at: number; server: number }>(
        `SELECT s.at, extract(epoch FROM clock_timestamp())::float8 AS server
           FROM ${prefix}_spends s JOIN ${prefix}_ledgers l ON l.id = s.ledger WHERE l.key = $1`,
        [ledger.toString()],
      );
      const row = rows[0];
      expect(row).toBeDefined();
      expect(Math.abs((row?.server ?? 0) - (row?.at ?? 0))).toBeLessThan(5);
    });

    it("expires spends by the window without summing it, deleting old rows a bounded batch per spend", async () => {
      const { store, prefix } = await fresh("expiry");
      const clock = { now: 5_000 };
      const engine = new Engine({ store, clock: () => clock.now });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "1000", window: 100 });
      for (let i = 0; i < 200; i++) {
        await engine.check(ledger, "1", budget);
        clock.now += 0.25; // 200 spends within 50 s
      }
      const rows = async () =>
        Number(
          (
            await pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM ${prefix}_spends s JOIN ${prefix}_ledgers l ON l.id = s.ledger WHERE l.key = $1`,
              [ledger.toString()],
            )
          ).rows[0]?.n,
        );
      expect(await rows()).toBe(200);
      expect((await engine.spent(ledger, budget)).toString()).toBe("200");
      clock.now += 1_000; // all 200 are now outside the window
      expect((await engine.spent(ledger, budget)).isZero()).toBe(true); // a read deletes nothing
      expect(await rows()).toBe(200);
      const first = await engine.check(ledger, "2", budget);
      expect(first.spentInWindow.toString()).toBe("2"); // this spend alone: the 200 old ones left the window
      expect(await rows()).toBe(200 + 1 - 16); // one recorded, one bounded batch of 16 expired deleted
      for (let i = 0; i < 20; i++) await engine.check(ledger, "0", budget); // zero costs record nothing
      expect(await rows()).toBe(185);
      for (let i = 0; i < 15; i++) await engine.check(ledger, "1", budget);
      expect(await rows()).toBe(16); // the backlog of 184 is gone after 12 spends; 16 in-window rows remain
      expect((await engine.spent(ledger, budget)).toString()).toBe("17");
    });

    it("forgets a cleared ledger at once and deletes its history in bounded batches", async () => {
      const { store, prefix } = await fresh("clear");
      const engine = new Engine({ store });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "100000", window: null });
      await engine.check(ledger, "1", budget);
      const { rows } = await pool.query<{ id: string }>(`SELECT id FROM ${prefix}_ledgers WHERE key = $1`, [
        ledger.toString(),
      ]);
      const id = rows[0]?.id;
      // A long history, written directly: 12,000 rows of one unit each after the first.
      await pool.query(
        `INSERT INTO ${prefix}_spends (ledger, at, before, amount)
           SELECT $1, extract(epoch FROM clock_timestamp())::float8 + g, g, 1 FROM generate_series(1, 12000) g`,
        [id],
      );
      await pool.query(`UPDATE ${prefix}_ledgers SET recorded = 12001 WHERE id = $1`, [id]);
      expect((await engine.spent(ledger, budget)).toString()).toBe("12001");
      const count = async () =>
        Number((await pool.query(`SELECT count(*) AS n FROM ${prefix}_spends WHERE ledger = $1`, [id])).rows[0]?.n);
      expect(await count()).toBe(12000); // a ledger with no rolling window logs nothing: only the rows written here
      await engine.clear(ledger);
      expect((await engine.spent(ledger, budget)).isZero()).toBe(true);
      expect(await count()).toBe(12000 - 5000);
      await engine.clear(new Ledger(ns(), "other")); // later clears carry on with the backlog
      expect(await count()).toBe(12000 - 10000);
      await engine.clear(new Ledger(ns(), "other"));
      expect(await count()).toBe(0);
      expect((await pool.query(`SELECT * FROM ${prefix}_graveyard`)).rowCount).toBe(0);
    });

    it("keeps apart keys that PostgreSQL text could not hold as they are", async () => {
      const { store } = await fresh("keys");
      const engine = new Engine({ store });
      const budget = new Budget({ maxSpend: "1" });
      const n = ns();
      const ledgers = [
        new Ledger(n, "x", "a\u0000"),
        new Ledger(n, "x", "a\\0"),
        new Ledger(n, "x", "a\\\\0"),
        new Ledger(n, "x", "lone\uD800"),
        new Ledger(n, "x", "lone\uFFFD"),
        new Ledger(n, "x", "lone\\ud800"),
        new Ledger(n, "x", "pair\uD83D\uDE00"),
      ];
      expect(new Set(ledgers.map((l) => storedKey(l.toString()))).size).toBe(ledgers.length);
      for (const ledger of ledgers) expect((await engine.check(ledger, "1", budget)).allowed).toBe(true);
      for (const ledger of ledgers) expect((await engine.check(ledger, "1", budget)).allowed).toBe(false);
    });

    it("charges several ledgers listed in opposite orders concurrently without deadlock, exactly", async () => {
      const { store } = await fresh("order");
      const engine = new Engine({ store, storeTimeoutMs: 10_000 });
      const n = ns();
      const a = { ledger: new Ledger(n, "m", "a"), budget: new Budget({ maxSpend: "100" }) };
      const b = { ledger: new Ledger(n, "m", "b"), budget: new Budget({ maxSpend: "3.5" }) };
      const c = { ledger: new Ledger(n, "m", "c"), budget: new Budget({ maxSpend: "100" }) };
      const orders = [
        [a, b, c],
        [c, b, a],
        [b, a, c],
        [c, a, b],
      ];
      const decisions = await Promise.all(
        Array.from({ length: 80 }, (_, i) => engine.check(orders[i % 4] as (typeof orders)[0], "0.1")),
      );
      expect(decisions.filter((d) => d.reason === BlockReason.STORE_ERROR)).toEqual([]);
      expect(decisions.filter((d) => d.allowed).length).toBe(35);
      for (const t of [a, b, c]) expect((await engine.spent(t.ledger, t.budget)).toString()).toBe("3.5");
    });

    it("throws ReservationNotFoundError for an unknown hold and changes nothing", async () => {
      const { store, prefix } = await fresh("nf");
      const engine = new Engine({ store });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "5" });
      await engine.check(ledger, "1", budget);
      const before = (await pool.query(`SELECT * FROM ${prefix}_ledgers ORDER BY id`)).rows;
      const call = {
        now: undefined,
        timeoutMs: 1000,
        deadline: Date.now() + 1000,
        signal: new AbortController().signal,
      };
      const limits = [
        {
          window: { kind: "rolling" as const, id: "r:3600", seconds: 3600 },
          maxSpend: Amount.from("5").units,
          enforce: true,
        },
      ];
      const line = { ledger, key: ledger.toString(), limits };
      const other = { ...line, key: `${ns()}:m@global`, ledger: new Ledger(ns(), "m") };
      await expect(store.commit(randomUUID(), [line, other], 10n ** 18n, call)).rejects.toBeInstanceOf(
        ReservationNotFoundError,
      );
      await expect(store.release(randomUUID(), [], call)).rejects.toBeInstanceOf(ReservationNotFoundError);
      expect((await pool.query(`SELECT * FROM ${prefix}_ledgers ORDER BY id`)).rows).toEqual(before);
      expect((await pool.query(`SELECT * FROM ${prefix}_spends`)).rowCount).toBe(1);
    });
  });

  describe("a call the engine gave up on", () => {
    it("rolls back on the server when another session holds its ledger's lock past the timeout", async () => {
      const { store, prefix } = await fresh("lock");
      const engine = new Engine({ store, storeTimeoutMs: 300 });
      const ledger = new Ledger(ns(), "m");
      const closed = new Budget({ maxSpend: "10" });
      const open = new Budget({ maxSpend: "10", onStoreError: StoreErrorMode.FAIL_OPEN });
      await engine.check(ledger, "1", closed);

      const holder = await pool.connect();
      try {
        await holder.query("BEGIN");
        await holder.query(`SELECT 1 FROM ${prefix}_ledgers WHERE key = $1 FOR UPDATE`, [ledger.toString()]);
        const started = Date.now();
        const [blocked, allowed] = await Promise.all([
          engine.check(ledger, "2", closed),
          engine.check(ledger, "3", open),
        ]);
        const elapsed = Date.now() - started;
        expect(blocked.status).toBe(Status.BLOCK);
        expect(blocked.reason).toBe(BlockReason.STORE_ERROR);
        expect(allowed.status).toBe(Status.ALLOW); // fail open: allowed, and recorded nowhere
        expect(allowed.reason).toBe(BlockReason.STORE_ERROR);
        expect(elapsed).toBeLessThan(300 + 250);
        // Still holding the lock: the server has stopped waiting for it. A queued waiter waits
        // twice (for the row, then for its holder's transaction), each wait bounded by what was
        // left of its time: within twice the timeout.
        await sleep(2 * 300 + 100 - (Date.now() - started));
        const waiting = await pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`%${prefix}_decide%`],
        );
        expect(waiting.rows[0]?.n).toBe(0);
        await sleep(200); // the lock is held well past the timeout
        await holder.query("COMMIT");
      } finally {
        holder.release();
      }
      await sleep(100);
      expect((await engine.spent(ledger, closed)).toString()).toBe("1");
      expect((await pool.query(`SELECT * FROM ${prefix}_spends`)).rowCount).toBe(1);
    });

    it("rolls back a call that outlived its time even when no lock was in the way", async () => {
      const { prefix } = await fresh("late");
      const key = `${ns()}:m@global`;
      // The function's last step compares the time it took with the budget it was given.
      await expect(
        pool.query(
          `SELECT * FROM ${prefix}_decide($1, '{1}', '{life}', '{NULL}', '{0}', '{}', $2, '{1}', $3, NULL, 0.001, NULL, NULL, NULL, false, NULL)`,
          [[key], ["1000000000000000000"], "1"],
        ),
      ).rejects.toMatchObject({ code: "57014" });
      expect((await pool.query(`SELECT * FROM ${prefix}_ledgers`)).rowCount).toBe(0);
      expect((await pool.query(`SELECT * FROM ${prefix}_spends`)).rowCount).toBe(0);
    });

    it("never sends a call whose deadline passed while it waited for a pooled connection", async () => {
      const small = testPool(service.url, { max: 1 });
      const prefix = testPrefix("queue");
      prefixes.push(prefix);
      const store = new PostgresStore(small, { prefix });
      await store.migrate();
      const engine = new Engine({ store, storeTimeoutMs: 200 });
      const ledger = new Ledger(ns(), "m");
      const budget = new Budget({ maxSpend: "10" });
      const only = await small.connect();
      try {
        const decision = engine.check(ledger, "1", budget);
        expect((await decision).reason).toBe(BlockReason.STORE_ERROR);
        await sleep(100);
      } finally {
        only.release();
      }
      await sleep(100); // the queued call now gets the connection, sees its deadline passed, sends nothing
      expect((await engine.spent(ledger, budget)).isZero()).toBe(true);
      expect((await pool.query(`SELECT * FROM ${prefix}_ledgers`)).rowCount).toBe(0);
      await small.end();
    });
  });
});
