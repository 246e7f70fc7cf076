import { BudgetGateError } from "./budget-gate-error.js";

/**
 * A budget option is out of range: a negative `maxSpend`, a window that is not a positive number,
 * an unknown mode.
 *
 * @example
 * new Budget({ maxSpend: "10", window: 0 }); // throws InvalidBudgetError
 */
export class InvalidBudgetError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.InvalidBudgetError";
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidBudgetError";
}
