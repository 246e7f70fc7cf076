import { show } from "budgetgate/store";
import { BudgetGateError } from "./budget-gate-error.js";

/**
 * A value given as an amount is not one: NaN, infinite, negative, too precise or of the wrong type.
 * `value` holds what was given.
 *
 * @example
 * Amount.from("1e3"); // throws InvalidAmountError: Invalid amount "1e3": expected plain decimal notation …
 */
export class InvalidAmountError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.InvalidAmountError";
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidAmountError";
  /** The rejected value. */
  readonly value: unknown;

  constructor(value: unknown, why: string) {
    super(`Invalid amount ${show(value)}: ${why}`);
    this.value = value;
  }
}
