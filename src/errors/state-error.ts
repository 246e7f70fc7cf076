import { BudgetGateError } from "./budget-gate-error.js";
import type { StoreError } from "./store-error.js";

/**
 * The store's state cannot be read, or cannot hold a value: a corrupt or foreign record under the
 * store's keys, a total beyond what its columns hold. Not a {@link StoreError}: retrying or failing
 * open would not help, so it reaches the caller of every operation, and nothing is changed.
 *
 * @example
 * try { await engine.check(ledger, "1") } catch (e) { if (e instanceof StateError) alertOperator(e); }
 */
export class StateError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.StateError";
  /** The class name, which `error.name` and logs show. */
  override name = "StateError";
}
