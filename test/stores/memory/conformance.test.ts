import { describeStoreConformance } from "budgetgate/store/conformance";
import { describe, expect, it } from "vitest";
import { Budget, Engine, Ledger, MemoryStore } from "../../../src/index.js";
import { FaultyStore } from "../../support/faulty-store.js";

/** The memory store has no backend to lose: its faults are a wrapper's, in every mode but "ok". */
function faulty(store: import("../../../src/store.js").Store, mode: FaultyStore["mode"]): FaultyStore {
  const wrapper = new FaultyStore(store);
  wrapper.mode = mode;
  return wrapper;
}

describeStoreConformance("MemoryStore", {
  create: () => new MemoryStore(),
  faults: {
    misconfigured: (store) => faulty(store, "bug"),
    unreachable: (store) => faulty(store, "throw"),
    stall: async (store) => ({ store: faulty(store, "hang"), end: async () => {} }),
  },
});

describe("MemoryStore housekeeping", () => {
  it("drops ledgers nobody asks about again once their window has passed", async () => {
    const store = new MemoryStore();
    const clock = { now: 0 };
    const engine = new Engine({ store, clock: () => clock.now });
    const budget = new Budget({ maxSpend: "1", window: 10 });
    for (let i = 0; i < 1000; i++) await engine.check(new Ledger("idle", "r", `user:${i}`), "0.5", budget);
    expect(store.liveLedgers).toBe(1000);
    clock.now += 11;
    const active = new Ledger("idle", "r", "active");
    for (let i = 0; i < 5000; i++) await engine.check(active, 0, budget);
    expect(store.liveLedgers).toBeLessThanOrEqual(1);
    expect(store.liveSpends).toBe(0);
  });

  it("keeps lifetime ledgers and ledgers with live holds", async () => {
    const store = new MemoryStore();
    const clock = { now: 0 };
    const engine = new Engine({ store, clock: () => clock.now, reservationTtl: 1e6 });
    const lifetime = new Ledger("keep", "life");
    const held = new Ledger("keep", "held");
    await engine.check(lifetime, "1", new Budget({ maxSpend: "5", window: null }));
    await engine.reserve(held, "1", new Budget({ maxSpend: "5", window: 1 }));
    clock.now += 100;
    for (let i = 0; i < 500; i++) await engine.check(new Ledger("keep", "other"), 0, new Budget({ maxSpend: 1 }));
    expect((await engine.spent(lifetime, new Budget({ maxSpend: "5", window: null }))).toString()).toBe("1");
    expect((await engine.spent(held, new Budget({ maxSpend: "5", window: 1 }))).toString()).toBe("1");
  });
});
