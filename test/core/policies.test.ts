/**
 * The engine's side of policies that the conformance suite cannot reach from outside a store: a
 * store whose clock is days from the engine's, listeners that fail, SHADOW budgets on a failing
 * store, and the checks on `ledgers()` and `usage()` arguments.
 */
import { describe, expect, it } from "vitest";
import {
  Budget,
  ConfigurationError,
  Engine,
  InvalidLedgerError,
  Ledger,
  MemoryStore,
  Mode,
  PeriodRangeError,
  Status,
} from "../../src/index.js";
import type { Store, StoreCall } from "../../src/store.js";
import { FaultyStore } from "../support/faulty-store.js";

const DAY = 86_400;
const day = new Budget({ maxSpend: "1", window: { calendar: "day" } });

/** A memory store whose clock runs `offset` seconds from the engine's. */
function skewed(offset: number): Store & { calls: number } {
  const inner = new MemoryStore();
  // Without an engine clock the store keeps its own: here, the host's plus `offset`.
  const shift = (call: StoreCall): StoreCall =>
    Object.assign(Object.create(call), { now: (call.now ?? Date.now() / 1000) + offset }) as StoreCall;
  const store = {
    calls: 0,
    charge: (lines, amount, call) => {
      store.calls++;
      return inner.charge(lines, amount, shift(call));
    },
    reserve: (lines, amount, hold, call) => inner.reserve(lines, amount, hold, shift(call)),
    commit: (id, lines, actual, call) => inner.commit(id, lines, actual, shift(call)),
    release: (id, lines, call) => inner.release(id, lines, shift(call)),
    read: (line, call) => inner.read(line, shift(call)),
    scan: (query, call) => inner.scan(query, shift(call)),
    clear: (ledger, call) => inner.clear(ledger, shift(call)),
    clearAll: (call) => inner.clearAll(shift(call)),
  } satisfies Store & { calls: number };
  return store;
}

describe("calendar periods on a store whose clock is far from the engine's", () => {
  it("retries once with the store's periods, then computes them around the store's time", async () => {
    const store = skewed(3 * DAY);
    const engine = new Engine({ store });
    const ledger = new Ledger("skew", "day");
    const first = await engine.check(ledger, "1", day);
    expect(first.allowed).toBe(true);
    expect(store.calls).toBe(2); // the first answer was a PeriodRangeError
    const second = await engine.check(ledger, "1", day);
    expect(second.blocked).toBe(true);
    expect(store.calls).toBe(3); // the engine has learned the store's clock
    // The store's day, three days after the host's, ends at the store's next midnight.
    const storeDay = Math.floor((Date.now() / 1000 + 3 * DAY) / DAY);
    expect([storeDay * DAY, (storeDay + 1) * DAY]).toContain(second.resetsAt);
    const { reservation } = await engine.reserve(new Ledger("skew", "held"), "0.5", day);
    if (reservation === null) throw new Error("refused");
    expect((await engine.commit(reservation, "0.5")).late).toBe(false);
  });

  it("renews a kept plan's periods once the store's time has left them, then sends them at once", async () => {
    let t = 1_700_000_000;
    const engine = new Engine({ store: skewed(0), clock: () => t });
    const store = engine.store as ReturnType<typeof skewed>;
    const ledger = new Ledger("skew", "kept");
    engine.register(ledger, day);
    expect((await engine.check(ledger, "0.25")).allowed).toBe(true);
    expect(store.calls).toBe(1);
    t += 40 * DAY; // far past every day the kept plan carries
    const moved = await engine.check(ledger, "1");
    expect(moved.allowed).toBe(true); // a new day: nothing spent in it
    expect(store.calls).toBe(3); // refused once, then sent with periods around the store's time
    expect((await engine.check(ledger, "0.5")).blocked).toBe(true);
    expect(store.calls).toBe(4); // the renewed plan is kept: one call
    t += DAY; // the next day is among the renewed periods: still one call, and a fresh total
    expect((await engine.check(ledger, "1")).allowed).toBe(true);
    expect(store.calls).toBe(5);
  });

  it("passes a PeriodRangeError on when the store's clock jumps again between the two calls", async () => {
    let offset = 3 * DAY;
    const inner = skewed(0);
    const jumpy: Store = {
      ...inner,
      charge: (lines, amount, call) => {
        offset += 3 * DAY;
        return inner.charge(lines, amount, Object.assign(Object.create(call), { now: Date.now() / 1000 + offset }));
      },
    };
    const engine = new Engine({ store: jumpy });
    await expect(engine.check(new Ledger("skew", "jumpy"), "1", day)).rejects.toSatisfy((e) =>
      PeriodRangeError.isInstance(e),
    );
  });
});

describe("thresholds and listeners", () => {
  it("counts a threshold listener that throws or rejects, and still tells the others", async () => {
    const engine = new Engine({ clock: () => 10 });
    const heard: number[] = [];
    engine.onThreshold(() => {
      throw new Error("pager down");
    });
    engine.onThreshold(async () => {
      throw new Error("webhook down");
    });
    engine.onThreshold((e) => {
      heard.push(e.level);
    });
    const budget = new Budget({ maxSpend: "10", window: 60, alerts: [0.5] });
    expect((await engine.check(new Ledger("alerts", "m"), "6", budget)).allowed).toBe(true);
    await Promise.resolve();
    expect(heard).toEqual([0.5]);
    expect(engine.listenerErrors).toBe(2);
  });

  it("stops telling a listener once it unsubscribes, and refuses one that is not a function", async () => {
    const engine = new Engine({ clock: () => 10 });
    const heard: number[] = [];
    const stop = engine.onThreshold((e) => {
      heard.push(e.level);
    });
    const budget = new Budget({ maxSpend: "10", window: 60, alerts: [0.1, 0.2] });
    const ledger = new Ledger("alerts", "stop");
    await engine.check(ledger, "1", budget);
    stop();
    await engine.check(ledger, "1", budget);
    expect(heard).toEqual([0.1]);
    expect(() => engine.onThreshold("page me" as never)).toThrow(ConfigurationError);
  });
});

describe("SHADOW budgets", () => {
  it("allow when the store fails, even under FAIL_CLOSED, and say so", async () => {
    const store = new FaultyStore();
    store.mode = "throw";
    const engine = new Engine({ store });
    const decision = await engine.check(
      new Ledger("shadow", "down"),
      "1",
      new Budget({ maxSpend: "1", mode: Mode.SHADOW }),
    );
    expect(decision.status).toBe(Status.ALLOW);
    expect(decision.reason).toBe("STORE_ERROR");
    expect(decision.message).toMatch(/^Store error \(shadow\): /);
  });
});

describe("arguments of ledgers() and usage()", () => {
  it("refuses a bad limit, page size or filter before reading anything", async () => {
    const engine = new Engine();
    const walk = async (query: object) => {
      for await (const _ of engine.ledgers(query as never)) return;
    };
    await expect(walk({ limit: 0 })).rejects.toThrow(ConfigurationError);
    await expect(walk({ pageSize: 1001 })).rejects.toThrow("expected a whole number from 1 to 1000");
    await expect(walk({ namespace: "a:b" })).rejects.toThrow(InvalidLedgerError);
    await expect(walk({ resource: "x@y" })).rejects.toThrow(InvalidLedgerError);
    await expect(engine.usage(new Ledger("none", "registered"))).rejects.toThrow(ConfigurationError);
  });
});
