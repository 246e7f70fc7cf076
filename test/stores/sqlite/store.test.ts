/**
 * SqliteStore against the store contract directly, with hand-made StoreLines: several limits per
 * line, totals per window id seeded from the log, calendar periods by the store's time, shadow
 * limits, holds against every limit, read, scan, and what expires without a scan.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger, PeriodRangeError, ReservationNotFoundError } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import type { StoreCall, StoreLimit, StoreLine, StoreWindow } from "budgetgate/store";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/stores/sqlite/driver.js";

const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const U = 10n ** 18n;
const rolling = (seconds: number): StoreWindow => ({ kind: "rolling", id: `r:${seconds}`, seconds });
const life: StoreWindow = { kind: "lifetime", id: "life" };
/** Days of 100 s from 0: period i is [100 i, 100 (i + 1)). */
const days = (from = 0, count = 1000): StoreWindow => ({
  kind: "calendar",
  id: "c:day:UTC",
  boundaries: Array.from({ length: count + 1 }, (_, i) => 100 * (from + i)),
});
const limit = (window: StoreWindow, max: bigint, enforce = true): StoreLimit => ({
  window,
  maxSpend: max * U,
  enforce,
});
const ledger = (principal = "p", ns = `s${randomUUID().slice(0, 8)}`) => new Ledger(ns, "model", principal);
const line = (l: Ledger, ...limits: StoreLimit[]): StoreLine => ({ ledger: l, key: l.toString(), limits });
const at = (now: number | undefined): StoreCall => ({
  now,
  timeoutMs: 1000,
  deadline: Date.now() + 10_000,
  signal: new AbortController().signal,
});
const hold = (ttl = 60, retain = 600) => ({ id: randomUUID(), ttl, retain });

describe("SqliteStore, store contract", () => {
  it("checks every limit of every line and records on all of them or none", async () => {
    const store = new SqliteStore(":memory:");
    const a = line(ledger("a"), limit(rolling(60), 5n), limit(rolling(3600), 8n), limit(life, 100n));
    const b = line(ledger("b"), limit(days(), 6n));
    const first = await store.charge([a, b], 4n * U, at(10));
    expect(first.allowed).toBe(true);
    expect(first.now).toBe(10);
    expect(first.lines).toEqual([
      { committed: [0n, 0n, 0n], reserved: 0n, newest: null },
      { committed: [0n], reserved: 0n, newest: null },
    ]);
    // b's day limit has room for 2 more, a's minute limit for 1: 2 is refused on a, and so on both.
    const second = await store.charge([a, b], 2n * U, at(20));
    expect(second.allowed).toBe(false);
    expect(second.lines).toEqual([
      { committed: [4n * U, 4n * U, 4n * U], reserved: 0n, newest: 10 },
      { committed: [4n * U], reserved: 0n, newest: 10 },
    ]);
    expect((await store.read(b, at(20))).state.committed).toEqual([4n * U]);
    // The minute passes: a has room, b too.
    expect((await store.charge([a, b], 2n * U, at(71))).allowed).toBe(true);
    expect((await store.read(a, at(72))).state.committed).toEqual([2n * U, 6n * U, 6n * U]);
    expect((await store.read(b, at(72))).state.committed).toEqual([6n * U]);
  });

  it("lets a shadow limit record but never block", async () => {
    const store = new SqliteStore(":memory:");
    const l = line(ledger(), limit(rolling(60), 1n, false), limit(life, 10n));
    for (let i = 0; i < 5; i++) expect((await store.charge([l], U, at(i))).allowed).toBe(true);
    expect((await store.read(l, at(5))).state.committed).toEqual([5n * U, 5n * U]);
    expect((await store.charge([l], 6n * U, at(6))).allowed).toBe(false); // the enforced lifetime limit
  });

  it("counts holds against every limit, and commit answers the states before it", async () => {
    const store = new SqliteStore(":memory:");
    const l = line(ledger(), limit(rolling(60), 10n), limit(life, 3n));
    const h = hold();
    expect((await store.reserve([l], 2n * U, h, at(0))).allowed).toBe(true);
    expect((await store.charge([l], 2n * U, at(1))).allowed).toBe(false); // 2 held + 2 > 3
    const commit = await store.commit(h.id, [l], U, at(2));
    expect(commit).toEqual({ late: false, lines: [{ committed: [0n, 0n], reserved: 2n * U, newest: null }], now: 2 });
    expect((await store.read(l, at(3))).state).toEqual({ committed: [U, U], reserved: 0n, newest: 2 });
    await expect(store.commit(h.id, [l], U, at(3))).rejects.toThrow(ReservationNotFoundError);
    await expect(store.release(h.id, [l], at(3))).rejects.toThrow(ReservationNotFoundError);

    // Late: the hold expired, no longer counts; the commit still records.
    const late = hold(10, 100);
    expect((await store.reserve([l], U, late, at(10))).allowed).toBe(true);
    expect((await store.read(l, at(15))).state.reserved).toBe(U);
    const settled = await store.commit(late.id, [l], U, at(30));
    expect(settled.late).toBe(true);
    expect(settled.lines[0]?.reserved).toBe(0n);
    expect((await store.read(l, at(31))).state.committed).toEqual([2n * U, 2n * U]);
  });

  it("keeps one total per window id, shared by limits of different amounts", async () => {
    const store = new SqliteStore(":memory:");
    const l = ledger();
    await store.charge([line(l, limit(rolling(60), 10n))], 3n * U, at(0));
    // An upgraded plan: same window, more room, same spend.
    const upgraded = line(l, limit(rolling(60), 20n), limit(rolling(60), 4n, false));
    expect((await store.read(upgraded, at(1))).state.committed).toEqual([3n * U, 3n * U]);
  });

  it("seeds a window named for the first time from the log, which holds the longest rolling window's spends", async () => {
    const store = new SqliteStore(":memory:");
    const l = ledger();
    const hour = line(l, limit(rolling(3600), 1000n));
    for (let t = 0; t < 10; t++) await store.charge([hour], U, at(t * 100)); // spends at 0, 100, …, 900
    // A minute window added at 950 counts the spends of the last minute the log holds: 900.
    const withMinute = line(l, limit(rolling(3600), 1000n), limit(rolling(60), 1000n));
    expect((await store.read(withMinute, at(950))).state.committed).toEqual([10n * U, U]);
    // A day window ([900, 1000)) sees the spend at 900, a lifetime window all ten the log holds.
    expect((await store.read(line(l, limit(days(), 1000n), limit(life, 1000n)), at(950))).state.committed).toEqual([
      U,
      10n * U,
    ]);
    // Past the hour, the log holds nothing older: a new two-hour window sees only what the hour kept.
    await store.charge([hour], U, at(4600));
    expect((await store.read(line(l, limit(rolling(7200), 1000n)), at(4601))).state.committed).toEqual([U]);
    // The lifetime total, made at 950, has kept counting everything since.
    expect((await store.read(line(l, limit(life, 1000n)), at(4601))).state.committed).toEqual([11n * U]);
  });

  it("keeps no log for a ledger without a rolling window, and a rolling window added later starts from there", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteStore(db);
    const l = ledger();
    for (let t = 0; t < 50; t++) await store.charge([line(l, limit(life, 1000n), limit(days(), 1000n))], U, at(t));
    expect(db.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get()).toBe(0);
    expect((await store.read(line(l, limit(rolling(3600), 1000n)), at(50))).state.committed).toEqual([0n]);
    // That read made an hour total of nothing, which the next touch drops: this spend is not logged…
    await store.charge([line(l, limit(life, 1000n))], U, at(51));
    expect(db.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get()).toBe(0);
    // …but one charged under the hour window is, and counts there from then on.
    await store.charge([line(l, limit(rolling(3600), 1000n), limit(life, 1000n))], U, at(52));
    expect(
      (await store.read(line(l, limit(rolling(3600), 1000n), limit(life, 1000n)), at(53))).state.committed,
    ).toEqual([U, 52n * U]);
  });

  it("adds a spend to every total the ledger keeps, also those the call does not name", async () => {
    const store = new SqliteStore(":memory:");
    const l = ledger();
    const all = line(l, limit(rolling(60), 100n), limit(days(), 100n), limit(life, 100n));
    await store.charge([all], U, at(10));
    await store.charge([line(l, limit(life, 100n))], 2n * U, at(20));
    expect((await store.read(all, at(30))).state.committed).toEqual([3n * U, 3n * U, 3n * U]);
  });

  it("starts a calendar period at zero, exactly at its boundary, and restarts it from the log", async () => {
    const store = new SqliteStore(":memory:");
    const l = ledger();
    const day = line(l, limit(days(), 5n), limit(rolling(1000), 100n));
    expect((await store.charge([day], 5n * U, at(150))).allowed).toBe(true);
    expect((await store.charge([day], U, at(199.999))).allowed).toBe(false);
    const next = await store.charge([day], U, at(200));
    expect(next.allowed).toBe(true);
    expect(next.lines[0]?.committed).toEqual([0n, 5n * U]);
    expect((await store.read(day, at(250))).state.committed).toEqual([U, 6n * U]);
    // Spend recorded by calls that do not name the day, in the next period, counts from its start.
    await store.charge([line(l, limit(rolling(1000), 100n))], 2n * U, at(301));
    expect((await store.read(day, at(302))).state.committed).toEqual([2n * U, 8n * U]);
  });

  it("picks the period by the store's time and throws PeriodRangeError before changing anything", async () => {
    const store = new SqliteStore(":memory:");
    const l = ledger();
    const ok = line(ledger("ok"), limit(life, 100n));
    const narrow = line(l, limit(days(0, 2), 100n)); // periods [0, 100), [100, 200)
    expect((await store.charge([ok, narrow], U, at(150))).allowed).toBe(true);
    let thrown: unknown;
    try {
      await store.charge([ok, narrow], U, at(250));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PeriodRangeError);
    expect((thrown as PeriodRangeError).storeNow).toBe(250);
    expect((await store.read(ok, at(160))).state.committed).toEqual([U]);
    // A ledger's time is its newest spend's when the store's is earlier: a period past it misses too.
    await expect(store.charge([line(l, limit(days(0, 1), 100n))], U, at(50))).rejects.toThrow(PeriodRangeError);
    await expect(store.read(line(l, limit(days(0, 1), 100n)), at(50))).rejects.toThrow(PeriodRangeError);
    const reserved = hold();
    await expect(store.reserve([ok, line(l, limit(days(3, 2), 100n))], U, reserved, at(50))).rejects.toThrow(
      PeriodRangeError,
    );
    await expect(store.release(reserved.id, [], at(50))).rejects.toThrow(ReservationNotFoundError);
  });

  it("dates a spend no earlier than the ledger's newest when the clock goes back", async () => {
    const store = new SqliteStore(":memory:");
    const l = line(ledger(), limit(rolling(10), 100n), limit(days(), 100n));
    await store.charge([l], U, at(195));
    const back = await store.charge([l], U, at(150));
    expect(back.now).toBe(150);
    expect(back.lines[0]?.newest).toBe(195);
    expect((await store.read(l, at(205))).state.committed).toEqual([2n * U, 0n]);
    expect((await store.read(l, at(205.5))).state.committed).toEqual([0n, 0n]);
  });

  it("holds totals of 38 digits exactly", async () => {
    const store = new SqliteStore(":memory:");
    const max = 10n ** 38n - 1n;
    const l = line(ledger(), { window: life, maxSpend: max, enforce: true }, limit(rolling(60), 1n, false));
    expect((await store.charge([l], max - 1n, at(0))).allowed).toBe(true);
    expect((await store.charge([l], 2n, at(1))).allowed).toBe(false);
    expect((await store.charge([l], 1n, at(2))).allowed).toBe(true);
    expect((await store.read(l, at(3))).state.committed).toEqual([max, max]);
  });

  it("takes its time from SQLite, not from the process's Date, when the engine has no clock", async () => {
    const store = new SqliteStore(":memory:");
    const real = Date.now;
    const before = real() / 1000;
    Date.now = () => real() + 5 * 3600_000;
    try {
      const verdict = await store.charge([line(ledger(), limit(life, 1n))], 1n, {
        now: undefined,
        timeoutMs: 1000,
        deadline: Date.now() + 1000,
        signal: new AbortController().signal,
      });
      expect(verdict.now).toBeGreaterThanOrEqual(before - 0.002);
      expect(verdict.now).toBeLessThan(real() / 1000 + 0.002);
    } finally {
      Date.now = real;
    }
  });
});

describe("SqliteStore scan", () => {
  it("lists exactly the ledgers of a prefix, page by page, with their windows", async () => {
    const store = new SqliteStore(":memory:");
    const ns = `n${randomUUID().slice(0, 6)}`;
    const names = ["%", "_", "\\", "a%b", "a_b", "\u{10FFFF}", "\u{10FFFF}x", "\u0000", "ü", "\ud800", "\ud800x", "z"];
    const other = [`${ns}x`, `${ns}_`, `${ns}%`, "a", `${ns.slice(0, -1)}`];
    for (const name of names)
      await store.charge([line(new Ledger(ns, name), limit(rolling(60), 10n), limit(life, 10n))], U, at(0));
    for (const space of other) await store.charge([line(new Ledger(space, "model"), limit(life, 10n))], U, at(0));
    await store.reserve([line(new Ledger(ns, "z"), limit(life, 10n))], 2n * U, hold(), at(1));
    for (const size of [1, 2, 5, 1000]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.scan({ prefix: `${ns}:`, cursor, limit: size }, at(30));
        expect(page.entries.length).toBeLessThanOrEqual(size);
        for (const entry of page.entries) {
          seen.push(entry.ledger.resource);
          expect(entry.windows).toEqual([
            { id: "life", committed: U },
            { id: "r:60", committed: U },
          ]);
          expect(entry.reserved).toBe(entry.ledger.resource === "z" ? 2n * U : 0n);
        }
        cursor = page.cursor;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(seen.sort()).toEqual([...names].sort());
    }
    // Resource prefixes, and prefixes with the characters LIKE would treat as patterns.
    expect(
      (await store.scan({ prefix: `${ns}:a%b@`, cursor: null, limit: 10 }, at(30))).entries.map(
        (e) => e.ledger.resource,
      ),
    ).toEqual(["a%b"]);
    expect(
      (await store.scan({ prefix: `${ns}:\ud800`, cursor: null, limit: 10 }, at(30))).entries
        .map((e) => e.ledger.resource)
        .sort(),
    ).toEqual(["\ud800", "\ud800x"]);
    expect(
      (await store.scan({ prefix: `${ns}:\udbff`, cursor: null, limit: 10 }, at(30))).entries.map(
        (e) => e.ledger.resource,
      ),
    ).toEqual(["\u{10FFFF}", "\u{10FFFF}x"]);
    expect((await store.scan({ prefix: `${ns}_`, cursor: null, limit: 10 }, at(30))).entries).toHaveLength(1);
    const all = await store.scan({ prefix: "", cursor: null, limit: 1000 }, at(30));
    expect(all.entries).toHaveLength(names.length + other.length);
    expect(all.cursor).toBeNull();
    // Past the minute the rolling total counts nothing, and is left out.
    const later = await store.scan({ prefix: `${ns}:z@`, cursor: null, limit: 10 }, at(61));
    expect(later.entries[0]?.windows).toEqual([{ id: "life", committed: U }]);
  });

  it("pages by an index, not a scan of the table", async () => {
    const db = openDatabase(":memory:");
    new SqliteStore(db);
    const plan = (sql: string) =>
      (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(new Uint8Array([0x61]), new Uint8Array([0x62]), 10) as {
          detail: string;
        }[]
      )
        .map((row) => row.detail)
        .join("; ");
    expect(
      plan(
        "SELECT id FROM budgetgate_ledgers WHERE key >= CAST(? AS TEXT) AND key < coalesce(CAST(? AS TEXT), x'') ORDER BY key LIMIT ?",
      ),
    ).toMatch(/SEARCH .* USING (COVERING )?INDEX .*\(key>\? AND key<\?\)/);
    db.close();
  });
});

describe("SqliteStore expiry", () => {
  it("forgets an idle ledger through the sweep index, and keeps lifetime totals", async () => {
    const db = openDatabase(join(dir, "sweep.db"));
    const store = new SqliteStore(db, { deleteBatch: 50 });
    const count = (table: string) => db.prepare(`SELECT count(*) FROM budgetgate_${table}`).pluck().get() as number;
    const idle = ledger("idle");
    const kept = ledger("kept");
    for (let t = 0; t < 120; t++) {
      await store.charge([line(idle, limit(rolling(60), 1000n), limit(days(), 1000n))], U, at(t * 0.1));
      await store.charge([line(kept, limit(rolling(60), 1000n), limit(life, 1000n))], U, at(t * 0.1));
    }
    expect(count("spends")).toBe(240);
    const other = line(ledger("other"), limit(life, 1000n));
    // Before the day ends the idle ledger still counts; after, the sweep deletes its rows in batches.
    await store.charge([other], U, at(99));
    expect(count("ledgers")).toBe(3);
    for (let i = 0; i < 4; i++) await store.charge([other], U, at(101 + i));
    expect(count("ledgers")).toBe(2);
    expect(count("spends")).toBe(0); // kept's rows left its minute: its sweep deleted them
    expect(count("totals")).toBe(2); // kept's and other's lifetime totals; kept's minute counted nothing
    expect(
      (await store.read(line(kept, limit(life, 1000n), limit(rolling(60), 1000n)), at(200))).state.committed,
    ).toEqual([120n * U, 0n]);
    expect((await store.read(line(idle, limit(days(), 1000n)), at(200))).state).toEqual({
      committed: [0n],
      reserved: 0n,
      newest: null,
    });
    db.close();
  });

  it("forgets at most a few idle ledgers per call, oldest first, and never looks at the others", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteStore(db);
    const count = () => db.prepare("SELECT count(*) FROM budgetgate_ledgers").pluck().get() as number;
    for (let i = 0; i < 40; i++) await store.charge([line(ledger(`u${i}`), limit(rolling(10), 100n))], U, at(i / 100));
    expect(count()).toBe(40);
    // At 45 all 40 are idle: forgotten 4 a call, whatever else the call does.
    const other = line(ledger("other"), limit(life, 1000n));
    for (let call = 1; call <= 10; call++) {
      await store.charge([other], U, at(45));
      expect(count()).toBe(41 - 4 * call);
    }
    await store.charge([other], U, at(45));
    expect(count()).toBe(1); // the lifetime ledger counts
    const plan = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT id FROM budgetgate_ledgers WHERE sweep_at IS NOT NULL AND sweep_at < ? ORDER BY sweep_at LIMIT ?",
      )
      .all(0, 4) as { detail: string }[];
    expect(plan.map((row) => row.detail).join("; ")).toMatch(
      /SEARCH .* USING (COVERING )?INDEX budgetgate_ledgers_sweep/,
    );
  });

  it("keeps a ledger while a hold on it may still count", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteStore(db);
    const l = line(ledger(), limit(rolling(10), 100n));
    await store.charge([l], U, at(0));
    const h = hold(100, 100);
    await store.reserve([l], U, h, at(1));
    await store.charge([line(ledger(), limit(rolling(1), 1n))], 0n, at(50));
    expect((await store.read(l, at(50))).state).toEqual({ committed: [0n], reserved: U, newest: 0 });
    expect((await store.commit(h.id, [l], 2n * U, at(60))).late).toBe(false);
    expect((await store.read(l, at(61))).state.committed).toEqual([2n * U]);
  });

  it("deletes log rows below the floor in bounded batches, and keeps storage flat", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteStore(db, { deleteBatch: 100 });
    const rows = () => db.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get() as number;
    const l = line(ledger(), limit(rolling(10), 1_000_000n), limit(life, 1_000_000n));
    let now = 0;
    for (let i = 0; i < 1000; i++, now += 0.01) await store.charge([l], U, at(now));
    expect(rows()).toBe(1000);
    now += 1000;
    expect((await store.read(l, at(now))).state.committed).toEqual([0n, 1000n * U]);
    // One batch by the call's own prune, one by the sweep (the ledger's log is past its window).
    expect(rows()).toBe(800);
    let most = 0;
    for (let i = 0; i < 3000; i++, now += 0.1) {
      await store.charge([l], U, at(now));
      if (i % 100 === 0) most = Math.max(most, rows());
    }
    expect(most).toBeLessThanOrEqual(101 + 32 + 900);
    expect(rows()).toBeLessThanOrEqual(101 + 32);
    expect((await store.read(l, at(now))).state.committed).toEqual([100n * U, 4000n * U]);
  });
});
