/**
 * SqliteStore failures: a lock held past the timeout, a read-only database, a full disk, a call
 * whose deadline passed, a closed database. Each is a store failure (STORE_ERROR, fail closed by
 * default) and leaves nothing written.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BlockReason, Budget, Engine, Ledger, StoreError, StoreErrorMode, StoreTimeoutError } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import type { StoreCall, StoreLine } from "budgetgate/store";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-fail-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const budget = new Budget({ maxSpend: "10", window: 3600 });
const open = new Budget({ maxSpend: "10", window: 3600, onStoreError: StoreErrorMode.FAIL_OPEN });
const ledger = (name = "model") => new Ledger(`f${randomUUID().slice(0, 8)}`, name);

/** What a raw connection sees: rows in each table. */
function counts(path: string): { ledgers: number; spends: number; holds: number } {
  const db = new Database(path, { readonly: true });
  try {
    const count = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      ledgers: count("budgetgate_ledgers"),
      spends: count("budgetgate_spends"),
      holds: count("budgetgate_holds"),
    };
  } finally {
    db.close();
  }
}

function line(l: Ledger, maxSpend = 10n ** 19n): StoreLine {
  return {
    ledger: l,
    key: l.toString(),
    limits: [{ window: { kind: "rolling", id: "r:3600", seconds: 3600 }, maxSpend, enforce: true }],
  };
}

function call(deadline: number): StoreCall {
  return { now: undefined, timeoutMs: 100, deadline, signal: new AbortController().signal };
}

describe("SqliteStore failures", () => {
  it("fails a call closed when another connection holds the lock past the timeout, writing nothing", async () => {
    const path = join(dir, "locked.db");
    const store = new SqliteStore(path);
    const engine = new Engine({ store, storeTimeoutMs: 150 });
    const l = ledger();
    const before = counts(path);
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      const started = Date.now();
      const blocked = await engine.check(l, "1", budget);
      const waited = Date.now() - started;
      expect(blocked.blocked).toBe(true);
      expect(blocked.reason).toBe(BlockReason.STORE_ERROR);
      expect(blocked.message).toMatch(/locked by another connection/);
      // It waited for the lock, and gave up at the engine's timeout rather than at SQLite's.
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(1500);

      const allowed = await engine.check(l, "1", open);
      expect(allowed.allowed).toBe(true);
      expect(allowed.reason).toBe(BlockReason.STORE_ERROR);
      await expect(engine.spent(l, budget)).rejects.toBeInstanceOf(StoreError);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(counts(path)).toEqual(before);
    expect((await engine.spent(l, budget)).isZero()).toBe(true);
    expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    await store.close();
  });

  it("waits for a lock another process releases before the timeout", async () => {
    const path = join(dir, "waits.db");
    const store = new SqliteStore(path);
    const engine = new Engine({ store, storeTimeoutMs: 5000 });
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `const db = new (require(${JSON.stringify(driver)}))(${JSON.stringify(path)});
         db.exec("BEGIN IMMEDIATE"); console.log("locked");
         setTimeout(() => { db.exec("COMMIT"); db.close(); }, 300);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const started = Date.now();
    const decision = await engine.check(ledger(), "1", budget);
    expect(decision.allowed).toBe(true);
    expect(decision.reason).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100); // it did wait for the other process
    await new Promise((resolve) => holder.once("exit", resolve));
    await store.close();
  });

  it("fails calls on a read-only database, writing nothing", async () => {
    const path = join(dir, "readonly.db");
    const writer = new SqliteStore(path);
    const l = ledger();
    await new Engine({ store: writer }).check(l, "2", budget);
    await writer.close();
    const before = counts(path);

    const db = new Database(path, { readonly: true });
    const store = new SqliteStore(db);
    const engine = new Engine({ store });
    const decision = await engine.check([l, ledger("other")], "1", budget);
    expect(decision.blocked).toBe(true);
    expect(decision.reason).toBe(BlockReason.STORE_ERROR);
    expect(decision.message).toMatch(/readonly/);
    expect((await engine.reserve(l, "1", budget)).reservation).toBeNull();
    db.close();
    expect(counts(path)).toEqual(before);
  });

  it("refuses to open a read-only database that has no schema", () => {
    const path = join(dir, "empty.db");
    new Database(path).close();
    const db = new Database(path, { readonly: true });
    expect(() => new SqliteStore(db)).toThrow(StoreError);
    db.close();
  });

  it("fails a call on a full disk without a partial write, and works once there is room", async () => {
    const path = join(dir, "full.db");
    const db = new Database(path);
    const store = new SqliteStore(db);
    const engine = new Engine({ store });
    const pages = db.pragma("page_count", { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 4}`);
    const long = "x".repeat(300);
    let failed: Ledger[] | undefined;
    let recorded = 0;
    for (let i = 0; i < 500 && failed === undefined; i++) {
      const ledgers = [ledger(`a${long}`), ledger(`b${long}`), ledger(`c${long}`)];
      const decision = await engine.check(ledgers, "0.5", budget);
      if (decision.reason === BlockReason.STORE_ERROR) {
        expect(decision.message).toMatch(/full/);
        failed = ledgers;
      } else {
        expect(decision.allowed).toBe(true);
        recorded++;
      }
    }
    expect(failed).toBeDefined();
    expect(recorded).toBeGreaterThan(0);
    // All or none: the failed charge left no ledger row and no spend behind.
    const find = db.prepare("SELECT count(*) FROM budgetgate_ledgers WHERE key = ?").pluck();
    for (const l of failed ?? []) expect(find.get(l.toString())).toBe(0);
    expect(db.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get()).toBe(3 * recorded);
    expect(db.prepare("SELECT count(*) FROM budgetgate_ledgers").pluck().get()).toBe(3 * recorded);

    db.pragma("max_page_count = 1073741823");
    expect((await engine.check(failed ?? [], "0.5", budget)).allowed).toBe(true);
    db.close();
  });

  it("does nothing when a call's deadline has already passed", async () => {
    const path = join(dir, "deadline.db");
    const store = new SqliteStore(path);
    const l = ledger();
    await expect(store.charge([line(l)], 1n, call(Date.now() - 1))).rejects.toThrow(StoreTimeoutError);
    await expect(
      store.reserve([line(l)], 1n, { id: randomUUID(), ttl: 60, retain: 60 }, call(Date.now() - 1)),
    ).rejects.toThrow(StoreTimeoutError);
    expect(counts(path)).toEqual({ ledgers: 0, spends: 0, holds: 0 });
    expect((await store.charge([line(l)], 1n, call(Date.now() + 1000))).allowed).toBe(true);
    expect(counts(path)).toEqual({ ledgers: 1, spends: 1, holds: 0 });
  });

  it("fails closed once closed, or when the Database it was given is closed", async () => {
    const store = new SqliteStore(":memory:");
    const engine = new Engine({ store });
    const l = ledger();
    expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    await store.close();
    const after = await engine.check(l, "1", budget);
    expect(after.reason).toBe(BlockReason.STORE_ERROR);
    expect(after.message).toMatch(/closed/);

    const db = new Database(":memory:");
    const given = new Engine({ store: new SqliteStore(db) });
    db.close();
    const decision = await given.check(l, "1", budget);
    expect(decision.blocked).toBe(true);
    expect(decision.reason).toBe(BlockReason.STORE_ERROR);
  });
});
