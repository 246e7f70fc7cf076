import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Budget, ConfigurationError, Engine, Ledger, StateError, StoreError, StoreErrorMode } from "budgetgate";
import { LAYOUT_VERSION, SqliteStore } from "budgetgate/sqlite";
import { describeStoreConformance } from "budgetgate/store/conformance";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/stores/sqlite/driver.js";
import { sqliteDrivers } from "./support/drivers.js";

const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const driver of sqliteDrivers) {
  describeStoreConformance(`SqliteStore on ${driver} (:memory:)`, {
    create: () => new SqliteStore(":memory:", { driver }),
    destroy: (store) => store.close?.(),
  });

  describeStoreConformance(`SqliteStore on ${driver} (file, WAL)`, {
    create: () => new SqliteStore(join(dir, `conformance-${driver.replace(":", "-")}.db`), { driver }),
    destroy: (store) => store.close?.(),
    faults: {
      // Tables dropped behind the store's back: "no such table" is a setup mistake, not an outage.
      misconfigured: () => {
        const path = join(dir, `dropped-${randomUUID()}.db`);
        const store = new SqliteStore(path, { driver });
        const other = openDatabase(path, driver);
        other.exec(
          "DROP TABLE budgetgate_holds; DROP TABLE budgetgate_spends; DROP TABLE budgetgate_totals; DROP TABLE budgetgate_ledgers",
        );
        other.close();
        return store;
      },
      // A database whose connection is gone: nothing can be read or written.
      unreachable: () => {
        const db = openDatabase(join(dir, `conformance-${driver.replace(":", "-")}.db`), driver);
        const store = new SqliteStore(db);
        db.close();
        return store;
      },
      // Another connection holds the write lock until the stall ends.
      stall: async (store) => {
        const other = openDatabase(join(dir, `conformance-${driver.replace(":", "-")}.db`), driver);
        other.exec("BEGIN IMMEDIATE");
        return {
          store,
          end: async () => {
            other.exec("COMMIT");
            other.close();
          },
        };
      },
      close: (store) => store.close?.(),
    },
  });
}

const budget = new Budget({ maxSpend: "1000", window: 3600 });
const ns = () => `s${randomUUID().slice(0, 8)}`;

describe("SqliteStore", () => {
  it("keeps spends and holds across a restart", async () => {
    const path = join(dir, "restart.db");
    const l = new Ledger(ns(), "model");
    const first = new SqliteStore(path);
    const before = new Engine({ store: first });
    expect((await before.check(l, "1.25", budget)).allowed).toBe(true);
    const { reservation } = await before.reserve(l, "2", budget);
    if (!reservation) throw new Error("expected a reservation");
    await first.close();

    const second = new SqliteStore(path);
    const after = new Engine({ store: second });
    expect((await after.spent(l, budget)).toString()).toBe("3.25");
    expect((await after.commit(reservation, "0.5")).late).toBe(false);
    expect((await after.spent(l, budget)).toString()).toBe("1.75");
    await second.close();
  });

  it("puts a file in WAL mode with the synchronous setting asked for, and creates its schema once", async () => {
    const path = join(dir, "pragmas.db");
    for (const [synchronous, level] of [
      ["full", 2],
      ["normal", 1],
    ] as const) {
      const db = openDatabase(path);
      const store = new SqliteStore(db, { synchronous });
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("synchronous", { simple: true })).toBe(level);
      await store.close();
      expect(db.prepare("SELECT 1").pluck().get()).toBe(1); // a Database passed in stays open for its owner
      db.close();
    }
    const raw = openDatabase(path);
    expect(raw.prepare("SELECT value FROM budgetgate_meta WHERE key = 'schema'").pluck().get()).toBe(
      String(LAYOUT_VERSION),
    );
    raw.close();
  });

  it("keeps stores with different table prefixes apart in one database", async () => {
    const db = openDatabase(":memory:");
    const a = new Engine({ store: new SqliteStore(db, { prefix: "a" }) });
    const b = new Engine({ store: new SqliteStore(db, { prefix: "b" }) });
    const l = new Ledger(ns(), "model");
    await a.check(l, "3", budget);
    expect((await a.spent(l, budget)).toString()).toBe("3");
    expect((await b.spent(l, budget)).isZero()).toBe(true);
    db.close();
  });

  it("refuses bad arguments with errors that name them", () => {
    expect(() => new SqliteStore("")).toThrow(ConfigurationError);
    expect(() => new SqliteStore(42 as unknown as string)).toThrow(/Invalid database 42/);
    expect(() => new SqliteStore(":memory:", { prefix: "x; DROP" })).toThrow(/Invalid SqliteStore prefix "x; DROP"/);
    expect(() => new SqliteStore(":memory:", { synchronous: "off" as "full" })).toThrow(/Invalid synchronous "off"/);
    expect(() => new SqliteStore(":memory:", { deleteBatch: 0 })).toThrow(/Invalid deleteBatch 0/);
    expect(() => new SqliteStore(join(dir, "no", "such", "dir.db"))).toThrow(StoreError);
  });

  it("throws an unreadable row as a StateError, even under FAIL_OPEN, and changes nothing", async () => {
    const db = openDatabase(":memory:");
    const engine = new Engine({ store: new SqliteStore(db) });
    const l = new Ledger(ns(), "model");
    await engine.check(l, "1", budget);
    db.prepare("UPDATE budgetgate_ledgers SET total = 'garbage' WHERE key = ?").run(l.toString());
    const open = new Budget({ maxSpend: "1000", window: 3600, onStoreError: StoreErrorMode.FAIL_OPEN });
    await expect(engine.check(l, "1", open)).rejects.toBeInstanceOf(StateError);
    await expect(engine.spent(l, open)).rejects.toThrow(/unreadable row/);
    expect(db.prepare("SELECT total FROM budgetgate_ledgers WHERE key = ?").pluck().get(l.toString())).toBe("garbage");
  });

  it("refuses a database whose schema is from another version with a ConfigurationError naming both and what to do", () => {
    const db = openDatabase(":memory:");
    new SqliteStore(db);
    expect(db.prepare("SELECT value FROM budgetgate_meta WHERE key = 'schema'").pluck().get()).toBe(
      String(LAYOUT_VERSION),
    );
    db.prepare("UPDATE budgetgate_meta SET value = '99' WHERE key = 'schema'").run();
    expect(() => new SqliteStore(db)).toThrow(ConfigurationError);
    expect(() => new SqliteStore(db)).toThrow(
      new RegExp(`schema version "99" .*reads version ${LAYOUT_VERSION}\\. Open it with .* \\(option prefix\\)`),
    );
    db.close();
  });

  it("deletes expired spends in bounded batches, and keeps storage flat as history grows", async () => {
    const db = openDatabase(":memory:");
    const engine = (clock: { now: number }) =>
      new Engine({ store: new SqliteStore(db, { deleteBatch: 100 }), clock: () => clock.now });
    const rows = () => db.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get() as number;
    const clock = { now: 0 };
    const e = engine(clock);
    const l = new Ledger(ns(), "model");
    const window = new Budget({ maxSpend: "1000000", window: 10 });
    for (let i = 0; i < 1000; i++) {
      await e.check(l, "1", window);
      clock.now += 0.01;
    }
    expect(rows()).toBe(1000);
    clock.now += 1000;
    expect((await e.spent(l, window)).isZero()).toBe(true); // all expired at once…
    expect(rows()).toBe(800); // …but only one batch deleted by the call, one by the sweep
    // Each later call deletes a batch or two (its own, the sweep's) until none is left.
    for (let left = rows(), calls = 0; left > 0; calls++) {
      await e.spent(l, window);
      expect(left - rows()).toBeGreaterThanOrEqual(100);
      expect(left - rows()).toBeLessThanOrEqual(200);
      expect(calls).toBeLessThan(8);
      left = rows();
    }

    // Steady state: one spend per 0.1 s in a 10 s window holds about 100 live rows, however long it runs.
    let most = 0;
    for (let i = 0; i < 3000; i++) {
      await e.check(l, "1", window);
      clock.now += 0.1;
      if (i % 100 === 0) most = Math.max(most, rows());
    }
    expect(most).toBeLessThanOrEqual(101 + 32 + 100);
    expect(rows()).toBeLessThanOrEqual(101 + 32);
    expect((await e.spent(l, window)).toString()).toBe("100");
    db.close();
  });

  it("dates a spend no earlier than the ledger's newest when the clock goes back, so totals stay exact", async () => {
    const clock = { now: 100 };
    const engine = new Engine({ store: new SqliteStore(":memory:"), clock: () => clock.now });
    const l = new Ledger(ns(), "model");
    const window = new Budget({ maxSpend: "10", window: 10 });
    await engine.check(l, "1", window);
    clock.now = 95;
    await engine.check(l, "2", window);
    clock.now = 110;
    expect((await engine.spent(l, window)).toString()).toBe("3"); // both at t=100: still in
    clock.now = 110.5;
    expect((await engine.spent(l, window)).isZero()).toBe(true);
  });

  it("lets a hold placed before a clear touch nothing after it, like the memory store", async () => {
    const engine = new Engine({ store: new SqliteStore(":memory:") });
    const l = new Ledger(ns(), "model");
    const small = new Budget({ maxSpend: "1", window: 3600 });
    const { reservation } = await engine.reserve(l, "1", small);
    if (!reservation) throw new Error("expected a reservation");
    await engine.clear(l);
    expect((await engine.check(l, "1", small)).allowed).toBe(true);
    expect((await engine.commit(reservation, "0.25")).late).toBe(false);
    expect((await engine.spent(l, small)).toString()).toBe("1.25");
  });

  it("keeps ledgers apart whose names differ only in lone surrogates", async () => {
    const engine = new Engine({ store: new SqliteStore(":memory:") });
    const small = new Budget({ maxSpend: "1", window: 3600 });
    const space = ns();
    for (const name of ["\ud800", "\ud801", "\ufffd", "\udc00\ud800"]) {
      expect((await engine.check(new Ledger(space, name), "1", small)).allowed).toBe(true);
    }
  });
});
