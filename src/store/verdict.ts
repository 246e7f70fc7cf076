import type { StoreLedgerState, StoreLine, StoreVerdict } from "../store.js";

/**
 * The verdict on charging `amount` to `lines` whose states are `states` (same order, units of
 * 10⁻¹⁸), decided at `now`: allowed only if `committed + reserved + amount ≤ maxSpend` for every
 * enforced limit of every line. For stores that decide in JavaScript; stores that decide on their
 * server implement the same rule there.
 *
 * @example
 * const verdict = verdictOf(lines, lines.map((line) => stateOf(line)), amount, now);
 * if (verdict.allowed) recordOnAll(lines, amount);
 */
export function verdictOf(
  lines: readonly StoreLine[],
  states: readonly StoreLedgerState[],
  amount: bigint,
  now: number,
): StoreVerdict {
  let allowed = true;
  for (let i = 0; i < lines.length && allowed; i++) {
    const { limits } = lines[i] as StoreLine;
    const state = states[i] as StoreLedgerState;
    // Most ledgers hold nothing: a bigint sum allocates, and 0n + amount is amount.
    const held = state.reserved === 0n ? amount : state.reserved + amount;
    for (let j = 0; j < limits.length; j++) {
      const limit = limits[j] as (typeof limits)[number];
      if (limit.enforce && (state.committed[j] as bigint) + held > limit.maxSpend) {
        allowed = false;
        break;
      }
    }
  }
  return { allowed, lines: states, now };
}
