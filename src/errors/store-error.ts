import { BudgetGateError } from "./budget-gate-error.js";
import type { ConfigurationError } from "./configuration-error.js";
import type { StateError } from "./state-error.js";

/**
 * The store's backend could not be reached or used: a refused or dropped connection, a server
 * error, a lock held past the deadline, no answer in time. Only this class (and its subclasses)
 * counts as a store failure: decisions turn it into a STORE_ERROR decision per the budget's
 * `onStoreError`; `commit`, `release`, `spent` and the rest throw it. Any other error a store
 * throws (a {@link ConfigurationError}, a {@link StateError}, a bug) reaches the caller unchanged,
 * whatever `onStoreError` says: a mistake is never mistaken for an outage.
 *
 * @example
 * try { await engine.spent(ledger) } catch (e) { if (e instanceof StoreError) retryLater(); }
 */
export class StoreError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.StoreError";
  /** The class name, which `error.name` and logs show. */
  override name = "StoreError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
