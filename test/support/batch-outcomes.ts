import { PeriodRangeError, StateError } from "budgetgate";
import type { StoreVerdict } from "budgetgate/store";
import { expect } from "vitest";

const U = 10n ** 18n;

/**
 * Checks the outcomes of the batch the SQL stores' batch tests send together, in this order: a
 * charge of 2, a reserve on a hold id already taken, charges of 3 and 4, a charge whose calendar
 * periods do not hold the time, a charge of 5 (units of 10⁻¹⁸ × 10¹⁸), all but the reserve and the
 * calendar charge on one ledger that held nothing. The two in the middle must fail alone, each with
 * its own typed error, and every other call must see the spends of the calls before it.
 */
export function expectFailuresAlone(outcomes: readonly PromiseSettledResult<StoreVerdict>[]): void {
  expect(outcomes.map((o) => o.status)).toEqual([
    "fulfilled",
    "rejected",
    "fulfilled",
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(StateError);
  expect((outcomes[4] as PromiseRejectedResult).reason).toBeInstanceOf(PeriodRangeError);
  const befores = [0, 2, 3, 5].map(
    (i) => (outcomes[i] as PromiseFulfilledResult<StoreVerdict>).value.lines[0]?.committed[0],
  );
  expect(befores).toEqual([0n, 2n * U, 5n * U, 9n * U]);
}

/**
 * Checks that calls charging `amounts` to one ledger with `max` units of room, sent together, were
 * decided in the order they came: each saw the spend of the allowed ones before it, was allowed
 * exactly when it fitted, and more than ten were blocked. Returns the total allowed.
 */
export function expectDecidedInOrder(
  amounts: readonly bigint[],
  verdicts: readonly StoreVerdict[],
  max: bigint,
): bigint {
  let total = 0n;
  amounts.forEach((amount, i) => {
    const verdict = verdicts[i] as StoreVerdict;
    expect(verdict.lines[0]?.committed[0]).toBe(total);
    expect(verdict.allowed).toBe(total + amount <= max);
    if (verdict.allowed) total += amount;
  });
  expect(verdicts.filter((v) => !v.allowed).length).toBeGreaterThan(10);
  expect(total).toBeLessThanOrEqual(max);
  return total;
}
