import { BudgetGateError } from "./budget-gate-error.js";

/**
 * A store's clock fell outside the calendar periods the engine sent with a call (the engine's own
 * clock is far from the store's). The store throws it before changing anything; the engine then
 * sends periods around the store's time and asks once more, so applications meet it only if the
 * store's clock moves while it does.
 *
 * @example
 * throw new PeriodRangeError(window.id, now); // in a store, from currentPeriod
 */
export class PeriodRangeError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.PeriodRangeError";
  /** The class name, which `error.name` and logs show. */
  override name = "PeriodRangeError";
  /** The window whose periods missed. */
  readonly windowId: string;
  /** The store's time, in seconds. */
  readonly storeNow: number;

  constructor(windowId: string, storeNow: number) {
    super(
      `The store's time ${storeNow} s is outside the periods sent for calendar window ${JSON.stringify(windowId)}; the engine retries with periods around it`,
    );
    this.windowId = windowId;
    this.storeNow = storeNow;
  }
}
