import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { monotonicClock } from "../../../src/clock.js";
import { PeriodRangeError, ReservationNotFoundError } from "../../../src/errors.js";
import { Ledger } from "../../../src/ledger.js";
import type { StoreCall, StoreLimit, StoreLine, StoreWindow } from "../../../src/store.js";
import { MemoryStore } from "../../../src/stores/memory/index.js";
import { LedgerState } from "../../../src/stores/memory/layout.js";
import { SpendLog } from "../../../src/stores/memory/spend-log.js";
import type { RollingTotal } from "../../../src/stores/memory/totals.js";

const rolling = (seconds: number): StoreWindow => ({ kind: "rolling", id: `r:${seconds}`, seconds });
const calendar = (boundaries: number[], id = "c:test"): StoreWindow => ({ kind: "calendar", id, boundaries });
const lifetime: StoreWindow = { kind: "lifetime", id: "life" };
const limit = (window: StoreWindow, maxSpend = 10n ** 30n, enforce = true): StoreLimit => ({
  window,
  maxSpend,
  enforce,
});
const line = (name: string, ...limits: StoreLimit[]): StoreLine => {
  const ledger = new Ledger("t", "r", name);
  return { ledger, key: ledger.toString(), limits };
};
const at = (now: number): StoreCall => ({
  now,
  timeoutMs: 1000,
  deadline: Date.now() + 1000,
  signal: new AbortController().signal,
});
const hold = (id: string, ttl = 100, retain = 100) => ({ id, ttl, retain });

describe("SpendLog", () => {
  it("answers like an array of its spends under appends, trims and searches", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ dt: fc.integer({ min: 0, max: 5 }), amount: fc.bigInt({ min: 1n, max: 99n }) }),
            fc.nat(40),
          ),
          {
            maxLength: 300,
          },
        ),
        (script) => {
          const log = new SpendLog();
          const model: { t: number; amount: bigint }[] = [];
          let offset = 0; // position of model[0]
          let t = 0;
          for (const step of script) {
            if (typeof step === "number") {
              const drop = Math.min(step, model.length);
              model.splice(0, drop);
              offset += drop;
              log.trimTo(offset);
            } else {
              t += step.dt;
              log.append(t, step.amount);
              model.push({ t, amount: step.amount });
            }
            expect(log.head).toBe(offset);
            expect(log.size).toBe(model.length);
            model.forEach((spend, i) => {
              expect(log.timeAt(offset + i)).toBe(spend.t);
              expect(log.amountAt(offset + i)).toBe(spend.amount);
            });
            const probe = t - 3;
            const first = model.findIndex((spend) => spend.t >= probe);
            expect(log.firstAtOrAfter(probe)).toBe(offset + (first === -1 ? model.length : first));
            expect(log.sumFrom(log.head)).toBe(model.reduce((sum, spend) => sum + spend.amount, 0n));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps a ledger's only spend in the log itself, and the time of the newest after it left", () => {
    const log = new SpendLog();
    log.append(5, 7n);
    expect([log.head, log.end, log.timeAt(0), log.amountAt(0)]).toEqual([0, 1, 5, 7n]);
    log.empty();
    expect([log.size, log.newest]).toEqual([0, 5]);
  });
});

describe("LedgerState", () => {
  it("keeps a log position per rolling window, and the log only as long as the longest", () => {
    const state = new LedgerState(0);
    const minute = rolling(60);
    const hour = rolling(3600);
    state.total(minute, 0);
    state.total(hour, 0);
    for (const t of [0, 30, 90]) state.record(t, 1n);
    state.advance(100);
    const short = state.total(minute, 100) as RollingTotal;
    const long = state.total(hour, 100) as RollingTotal;
    expect([short.pos, short.sum, long.pos, long.sum, state.head, state.end]).toEqual([2, 1n, 0, 3n, 0, 3]);
    state.advance(3620);
    expect([short.pos, short.sum, long.pos, long.sum, state.head]).toEqual([3, 0n, 1, 2n, 1]);
    state.advance(3700);
    expect([long.pos, long.sum, state.size]).toEqual([3, 0n, 0]);
  });

  it("keeps no log when it keeps no rolling total, but still the newest spend's time", () => {
    const state = new LedgerState(0);
    state.total(lifetime, 0);
    state.record(10, 5n);
    expect([state.size, state.newest, state.total(lifetime, 10).sum]).toEqual([0, 10, 5n]);
  });
});

describe("MemoryStore on its own", () => {
  it("seeds a new window from the spends the log holds in it", () => {
    const store = new MemoryStore();
    const hour = line("seed", limit(rolling(3600)));
    for (const t of [0, 1000, 2000]) expect(store.charge([hour], 1n, at(t)).allowed).toBe(true);
    const wider = line("seed", limit(rolling(1500)), limit(lifetime), limit(calendar([1500, 5000])));
    expect(store.read(wider, at(2500)).state.committed).toEqual([2n, 3n, 1n]);
  });

  it("restarts a calendar total at a new period, from the log", () => {
    const store = new MemoryStore();
    const days = [0, 100, 200, 300];
    const both = line("cal", limit(rolling(1000)), limit(calendar(days)));
    const rollingOnly = line("cal", limit(rolling(1000)));
    store.charge([both], 1n, at(50));
    store.charge([rollingOnly], 2n, at(60)); // into the calendar total too: its period is on
    store.charge([rollingOnly], 4n, at(120)); // not into it: its period has ended
    expect(store.read(line("cal", limit(calendar(days))), at(150)).state.committed).toEqual([4n]);
    expect(store.read(both, at(250)).state.committed).toEqual([7n, 0n]);
  });

  it("records into every total a ledger keeps, named in the call or not", () => {
    const store = new MemoryStore();
    const all = line("all", limit(rolling(60)), limit(rolling(86_400)), limit(lifetime), limit(calendar([0, 1e6])));
    store.charge([all], 1n, at(0)); // makes the totals
    for (let i = 1; i <= 3; i++) store.charge([line("all", limit(rolling(60)))], 1n, at(i * 100));
    expect(store.read(all, at(350)).state.committed).toEqual([1n, 4n, 4n, 4n]);
  });

  it("counts limits that share a window id in one total", () => {
    const store = new MemoryStore();
    const twice = line("twice", limit(rolling(60), 3n), limit(rolling(60), 2n));
    expect(store.charge([twice], 2n, at(0)).allowed).toBe(true);
    const verdict = store.charge([twice], 1n, at(1));
    expect(verdict.allowed).toBe(false);
    expect(verdict.lines[0]?.committed).toEqual([2n, 2n]);
  });

  it("works at the ledger's newest spend when the clock goes back", () => {
    const store = new MemoryStore();
    const minute = line("back", limit(rolling(60), 2n));
    store.charge([minute], 1n, at(1000));
    const back = store.charge([minute], 1n, at(10));
    expect(back.allowed).toBe(true);
    expect(back.now).toBe(10);
    expect(back.lines[0]).toEqual({ committed: [1n], reserved: 0n, newest: 1000 });
    // Both spends are dated 1000: both leave the window after 1060, none before.
    expect(store.read(minute, at(1060)).state).toEqual({ committed: [2n], reserved: 0n, newest: 1000 });
    expect(store.read(minute, at(1060.5)).state.committed).toEqual([0n]);
  });

  it("counts holds against every limit and answers commit with the states before it", () => {
    const store = new MemoryStore();
    const two = line("held", limit(rolling(60), 5n), limit(lifetime, 3n));
    expect(store.reserve([two], 2n, hold("h1"), at(0)).allowed).toBe(true);
    expect(store.charge([two], 2n, at(1)).allowed).toBe(false);
    const commit = store.commit("h1", [two], 1n, at(2));
    expect(commit).toEqual({ late: false, lines: [{ committed: [0n, 0n], reserved: 2n, newest: null }], now: 2 });
    expect(store.read(two, at(3)).state).toEqual({ committed: [1n, 1n], reserved: 0n, newest: 2 });
    expect(() => store.commit("h1", [two], 1n, at(4))).toThrow(ReservationNotFoundError);
    store.reserve([two], 1n, hold("h2", 10, 100), at(5));
    const late = store.commit("h2", [two], 1n, at(20));
    expect(late.late).toBe(true);
    expect(late.lines[0]?.reserved).toBe(0n);
    store.reserve([two], 1n, hold("h3", 10, 100), at(30));
    expect(store.release("h3", [two], at(50))).toEqual({ late: true });
    expect(() => store.release("h3", [two], at(51))).toThrow(ReservationNotFoundError);
  });

  it("checks every calendar window of every line before it changes anything", () => {
    const store = new MemoryStore();
    const fine = line("fine", limit(rolling(60)));
    const outside = line("outside", limit(calendar([0, 100])));
    expect(() => store.charge([fine, outside], 1n, at(150))).toThrow(PeriodRangeError);
    expect(() => store.reserve([fine, outside], 1n, hold("h"), at(150))).toThrow(PeriodRangeError);
    expect(store.read(fine, at(150)).state).toEqual({ committed: [0n], reserved: 0n, newest: null });
    expect(() => store.read(outside, at(150))).toThrow(PeriodRangeError);
    expect(store.charge([fine], 1n, at(151)).allowed).toBe(true);
  });

  it("sweeps exactly the ledgers that can no longer count", () => {
    const store = new MemoryStore();
    const make = (name: string, window: StoreWindow, amount: bigint, t = 0) =>
      store.charge([line(name, limit(window))], amount, at(t));
    make("expired", rolling(10), 1n);
    make("zero-life", lifetime, 0n);
    make("life", lifetime, 1n);
    make("month-over", calendar([0, 50, 1e6]), 1n);
    make("month-on", calendar([0, 1e6]), 1n);
    make("zero-month", calendar([0, 1e6]), 0n);
    make("window-on", rolling(1000), 1n);
    store.reserve([line("held", limit(rolling(1)))], 1n, hold("h", 1e6), at(0));
    const busy = line("busy", limit(rolling(1)));
    for (let i = 0; i < 200; i++) store.charge([busy], 0n, at(100));
    const left = new Set(
      store.scan({ prefix: "", cursor: null, limit: 100 }, at(100)).entries.map((e) => e.ledger.principal),
    );
    left.delete("busy"); // asked about on every call, so made again each time the sweep drops it
    expect([...left].sort()).toEqual(["held", "life", "month-on", "window-on"]);
  });

  it("outpaces a workload that makes a new ledger on every call", () => {
    const store = new MemoryStore();
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      store.charge([line(`once${i}`, limit(rolling(10)))], 1n, at(i));
      most = Math.max(most, store.liveLedgers);
    }
    // Ten ledgers still count at any time; the rest go within a sweep or two.
    expect(most).toBeLessThan(200);
  });

  it("walks a bounded number of ledgers per page, so a page may be empty before the last", () => {
    const store = new MemoryStore();
    for (let i = 0; i < 2500; i++) store.charge([line(`w${i}`, limit(lifetime))], 1n, at(0));
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const page: ReturnType<MemoryStore["scan"]> = store.scan({ prefix: "nothing:", cursor, limit: 10 }, at(0));
      pages.push(page.entries.length);
      cursor = page.cursor;
    } while (cursor !== null);
    expect(pages).toEqual([0, 0, 0]);
  });

  it("lists ledgers a page at a time, once each, through deletions between pages", () => {
    const store = new MemoryStore();
    const names = Array.from({ length: 10 }, (_, i) => `u${i}`);
    for (const name of names) store.charge([line(name, limit(lifetime))], 1n, at(0));
    store.charge(
      [{ ...line("x", limit(lifetime)), ledger: new Ledger("other", "r", "x"), key: "other:r@x" }],
      1n,
      at(0),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = store.scan({ prefix: "t:", cursor, limit: 3 }, at(1));
      for (const entry of page.entries) {
        seen.push(entry.ledger.principal);
        expect(entry.windows).toEqual([{ id: "life", committed: 1n }]);
      }
      cursor = page.cursor;
      if (++pages === 1) {
        store.clear(new Ledger("t", "r", "u1"), at(1)); // listed already
        store.clear(new Ledger("t", "r", "u5"), at(1)); // not yet
      }
    } while (cursor !== null);
    expect(seen).toEqual(names.filter((name) => name !== "u5"));
  });

  it("resumes a page whose walk it no longer keeps, and refuses a cursor it never gave", () => {
    const store = new MemoryStore();
    for (let i = 0; i < 5; i++) store.charge([line(`u${i}`, limit(lifetime))], 1n, at(0));
    const first = store.scan({ prefix: "", cursor: null, limit: 2 }, at(1));
    // Seventeen other scans in progress push the first one's walk out.
    for (let i = 0; i < 17; i++) store.scan({ prefix: "", cursor: null, limit: 1 + (i % 4) }, at(1));
    store.clear(new Ledger("t", "r", "u1"), at(1));
    const rest = store.scan({ prefix: "", cursor: first.cursor, limit: 10 }, at(1));
    expect([...first.entries, ...rest.entries].map((e) => e.ledger.principal)).toEqual(["u0", "u1", "u2", "u3", "u4"]);
    expect(rest.cursor).toBeNull();
    expect(() => store.scan({ prefix: "", cursor: "nope", limit: 1 }, at(1))).toThrow(/Invalid scan cursor/);
  });
});

describe("monotonicClock", () => {
  it("reads seconds since the epoch, and never runs backward", () => {
    const a = monotonicClock();
    expect(Math.abs(a - Date.now() / 1000)).toBeLessThan(5);
    expect(monotonicClock()).toBeGreaterThanOrEqual(a);
  });
});
