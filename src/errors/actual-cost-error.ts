import { show } from "budgetgate/store";
import type { Settlement } from "../reservation.js";
import { BudgetGateError } from "./budget-gate-error.js";
import type { InvalidAmountError } from "./invalid-amount-error.js";

/**
 * A bounded guard's action ran, but its `actual` threw, or returned something that is not an
 * amount. The action may have spent money, so the estimate was recorded in place of the actual cost
 * (`settlement`); the action's return value is on `result`, so that it is not lost. `cause` is what
 * `actual` threw, or the {@link InvalidAmountError} for the value it returned.
 *
 * @example
 * try { reply = await ask(prompt) } catch (e) {
 *   if (!(e instanceof ActualCostError)) throw e;
 *   log.error(e.message); // fix actual; the estimate was charged
 *   reply = e.result as Reply;
 * }
 */
export class ActualCostError<R = unknown> extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.ActualCostError";
  /** The class name, which `error.name` and logs show. */
  override name = "ActualCostError";
  /** What the action returned. */
  readonly result: R;
  /**
   * The commit of the estimate in place of the actual cost (`recorded` is zero for a fail-open
   * reservation, which records nothing, like any fail-open call).
   */
  readonly settlement: Settlement;

  constructor(result: R, settlement: Settlement, failure: "threw" | "returned an invalid amount", cause: unknown) {
    const why = cause instanceof Error ? (failure === "threw" ? String(cause) : cause.message) : show(cause);
    super(
      `actual(result) ${failure} (${why}): the action ran, so its estimate ${settlement.reservation.estimate.toString()} was committed in its place; the result is on error.result`,
      { cause },
    );
    this.result = result;
    this.settlement = settlement;
  }
}
