import { BudgetGateError } from "./budget-gate-error.js";

/**
 * A call was configured wrongly: a ledger with no budget passed or registered, the same ledger
 * twice in one charge, an engine option out of range.
 *
 * @example
 * await new Engine().check(new Ledger("a", "b"), 1); // throws ConfigurationError: no budget for a:b@global
 */
export class ConfigurationError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.ConfigurationError";
  /** The class name, which `error.name` and logs show. */
  override name = "ConfigurationError";
}
