/**
 * What a blocked decision does. HARD: `enforce` and the throwing guards raise {@link BudgetExceededError}.
 * SOFT: `enforce` lets the blocked decision through for the caller to inspect. SHADOW: nothing
 * blocks; spend is recorded as usual and a decision that would have blocked is an ALLOW that says
 * so (`wouldBlock`, reason BUDGET_EXCEEDED), so a new budget can be tried on live traffic first.
 *
 * @example
 * new Budget({ maxSpend: "5", mode: Mode.SOFT });
 */
export const Mode = {
  /** A blocked decision makes `enforce` and the throwing guards throw. */
  HARD: "HARD",
  /** A blocked decision is handed back by `enforce`; the caller decides. */
  SOFT: "SOFT",
  /** Never blocks: decides, records and alerts as usual, and reports what it would have blocked. */
  SHADOW: "SHADOW",
} as const;
/** `"HARD" | "SOFT" | "SHADOW"`. */
export type Mode = (typeof Mode)[keyof typeof Mode];

/**
 * What a decision does when the store fails or times out (docs/semantics.md §12): FAIL_CLOSED blocks,
 * FAIL_OPEN allows; both carry reason STORE_ERROR.
 *
 * @example
 * new Budget({ maxSpend: "5", onStoreError: StoreErrorMode.FAIL_OPEN });
 */
export const StoreErrorMode = {
  /** A store failure blocks the request. */
  FAIL_CLOSED: "FAIL_CLOSED",
  /** A store failure allows the request, unrecorded. */
  FAIL_OPEN: "FAIL_OPEN",
} as const;
/** `"FAIL_CLOSED" | "FAIL_OPEN"`. */
export type StoreErrorMode = (typeof StoreErrorMode)[keyof typeof StoreErrorMode];

/**
 * The verdict of a decision.
 *
 * @example
 * if (decision.status === Status.BLOCK) { … }
 */
export const Status = {
  /** The action may run. */
  ALLOW: "ALLOW",
  /** The action must not run. */
  BLOCK: "BLOCK",
} as const;
/** `"ALLOW" | "BLOCK"`. */
export type Status = (typeof Status)[keyof typeof Status];

/**
 * Why a decision is not a plain ALLOW: the budget has no room, or the store failed.
 *
 * @example
 * if (decision.reason === BlockReason.STORE_ERROR) alertOps();
 */
export const BlockReason = {
  /** The request does not fit the budget (or, on an ALLOW, would not fit a shadow limit). */
  BUDGET_EXCEEDED: "BUDGET_EXCEEDED",
  /** The store failed or timed out; the budget's `onStoreError` decided. */
  STORE_ERROR: "STORE_ERROR",
} as const;
/** `"BUDGET_EXCEEDED" | "STORE_ERROR"`. */
export type BlockReason = (typeof BlockReason)[keyof typeof BlockReason];
