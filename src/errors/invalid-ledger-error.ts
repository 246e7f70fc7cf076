import { BudgetGateError } from "./budget-gate-error.js";

/**
 * A ledger field is empty, not a string, or contains a separator it may not hold.
 *
 * @example
 * new Ledger("open:ai", "gpt-4o"); // throws InvalidLedgerError: namespace "open:ai" may not contain ":" …
 */
export class InvalidLedgerError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.InvalidLedgerError";
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidLedgerError";
}
