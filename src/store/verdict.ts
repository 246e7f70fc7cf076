import type { StoreLine, StoreVerdict } from "../store.js";

/**
 * The verdict on charging `amount` to `lines` whose current spends are `spent` (same order, units
 * of 10⁻¹⁸): allowed only if `spent + amount ≤ maxSpend` on every line. For stores that decide in
 * JavaScript; stores that decide on their server implement the same rule there.
 *
 * @example
 * const verdict = verdictOf(lines, lines.map((line) => totals.get(line.key) ?? 0n), amount);
 * if (verdict.allowed) recordOnAll(lines, amount);
 */
export function verdictOf(lines: readonly StoreLine[], spent: readonly bigint[], amount: bigint): StoreVerdict {
  const allowed = lines.every((line, i) => (spent[i] as bigint) + amount <= line.maxSpend);
  return { allowed, spent };
}
