import { describe, expect, it } from "vitest";
import { Ledger } from "../../src/index.js";
import { type StoreLimit, type StoreLine, verdictOf } from "../../src/store.js";

const UNIT = 10n ** 18n;
const rolling = { kind: "rolling", id: "r:60", seconds: 60 } as const;
const line = (limits: readonly StoreLimit[]): StoreLine => {
  const ledger = new Ledger("n", "r");
  return { ledger, key: ledger.toString(), limits };
};
const state = (committed: bigint, reserved = 0n) => ({ committed: [committed], reserved, newest: null });

describe("verdictOf", () => {
  it("answers each limits array and amount by its own maxSpend, whatever it answered just before", () => {
    // Amounts past 2⁶⁴ units (above 9.22), where the verdict keeps its last answer per limits array.
    const ten = [{ window: rolling, maxSpend: 10n * UNIT, enforce: true }];
    const twenty = [{ window: rolling, maxSpend: 20n * UNIT, enforce: true }];
    const at = (limits: readonly StoreLimit[], committed: bigint, amount: bigint, reserved = 0n) =>
      verdictOf([line(limits)], [state(committed * UNIT, reserved * UNIT)], amount * UNIT, 0).allowed;
    expect(at(ten, 9n, 1n)).toBe(true);
    expect(at(ten, 9n, 2n)).toBe(false);
    expect(at(twenty, 9n, 2n)).toBe(true);
    expect(at(ten, 9n, 2n)).toBe(false);
    expect(at(ten, 8n, 1n, 1n)).toBe(true); // holds count with the amount
    expect(at(ten, 9n, 1n, 1n)).toBe(false);
    expect(at(ten, 10n, 0n)).toBe(true);
  });

  it("skips a limit that is not enforced, and blocks on any enforced one of any line", () => {
    const shadow = [{ window: rolling, maxSpend: 1n, enforce: false }];
    const tight = [{ window: rolling, maxSpend: 1n, enforce: true }];
    const states = [state(5n), state(0n)];
    expect(verdictOf([line(shadow), line(tight)], states, 1n, 7).allowed).toBe(true);
    expect(verdictOf([line(tight), line(shadow)], states, 1n, 7)).toMatchObject({ allowed: false, now: 7 });
  });
});
