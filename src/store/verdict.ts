import type { StoreLedgerState, StoreLimit, StoreLine, StoreVerdict } from "../store.js";

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
    const ceilings = ceilingsOf(limits, held);
    for (let j = 0; j < limits.length; j++) {
      if ((limits[j] as StoreLimit).enforce && (state.committed[j] as bigint) > (ceilings[j] as bigint)) {
        allowed = false;
        break;
      }
    }
  }
  return { allowed, lines: states, now };
}

/** The limits {@link ceilingsOf} answered for last, the `held` it was (−1 before the first), and its answer. */
let lastLimits: readonly StoreLimit[] | null = null;
let lastHeld = -1n;
let lastCeilings: readonly bigint[] = [];

/**
 * `maxSpend − held` of each limit: the most committed spend with which `held` still fits. Kept for
 * the last limits and `held` asked, since an engine sends one plan's limits (the same array) with
 * the same amount again and again, and sums past 2⁶⁴ units (a `maxSpend` above 9.22) cost V8 an
 * allocation each: a comparison against the kept answer is then what a verdict costs per limit.
 */
function ceilingsOf(limits: readonly StoreLimit[], held: bigint): readonly bigint[] {
  if (limits !== lastLimits || held !== lastHeld) {
    const ceilings: bigint[] = new Array(limits.length);
    for (let j = 0; j < limits.length; j++) ceilings[j] = (limits[j] as StoreLimit).maxSpend - held;
    lastLimits = limits;
    lastHeld = held;
    lastCeilings = ceilings;
  }
  return lastCeilings;
}
