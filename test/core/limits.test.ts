/**
 * Durations and timeouts every store can hold: the constructors refuse the rest, naming the value
 * and the maximum.
 */
import { describe, expect, it } from "vitest";
import {
  Budget,
  ConfigurationError,
  Engine,
  InvalidBudgetError,
  Ledger,
  MAX_DURATION_SECONDS,
  MAX_STORE_TIMEOUT_MS,
} from "../../src/index.js";
import { FaultyStore } from "../support/faulty-store.js";

describe("limits", () => {
  it("refuses a storeTimeoutMs that a timer cannot hold, and keeps the largest one", async () => {
    expect(MAX_STORE_TIMEOUT_MS).toBe(2 ** 31 - 1);
    for (const storeTimeoutMs of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      expect(() => new Engine({ storeTimeoutMs })).toThrow(ConfigurationError);
      expect(() => new Engine({ storeTimeoutMs })).toThrow(`at most ${MAX_STORE_TIMEOUT_MS} ms`);
    }
    // A slow store still answers: the timer was not cut to 1 ms.
    const store = new FaultyStore();
    store.mode = "slow";
    const engine = new Engine({ store, storeTimeoutMs: MAX_STORE_TIMEOUT_MS });
    const decision = await engine.check(new Ledger("limits", "m"), "1", new Budget({ maxSpend: "5" }));
    expect([decision.allowed, decision.reason]).toEqual([true, null]);
  });

  it("refuses windows, TTLs and late-commit windows above MAX_DURATION_SECONDS", () => {
    expect(MAX_DURATION_SECONDS).toBe(1e12);
    expect(new Budget({ maxSpend: 1, window: MAX_DURATION_SECONDS }).window).toBe(MAX_DURATION_SECONDS);
    for (const value of [MAX_DURATION_SECONDS * 1.000001, 1e14, Number.MAX_VALUE]) {
      expect(() => new Budget({ maxSpend: 1, window: value })).toThrow(InvalidBudgetError);
      expect(() => new Budget({ maxSpend: 1, window: value })).toThrow(
        `at most ${MAX_DURATION_SECONDS} (MAX_DURATION_SECONDS)`,
      );
      expect(() => new Engine({ reservationTtl: value })).toThrow(ConfigurationError);
      expect(() => new Engine({ lateCommitWindow: value })).toThrow(`at most ${MAX_DURATION_SECONDS} s`);
    }
    expect(
      () => new Engine({ reservationTtl: MAX_DURATION_SECONDS, lateCommitWindow: MAX_DURATION_SECONDS }),
    ).not.toThrow();
  });
});
