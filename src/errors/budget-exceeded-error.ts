import type { Decision } from "../decision.js";
import { BudgetGateError } from "./budget-gate-error.js";

/**
 * Thrown when a HARD budget blocks an action (by `enforce` and the throwing guards).
 * `decision` says which ledger blocked and by how much.
 *
 * @example
 * try { await guarded() } catch (e) {
 *   if (e instanceof BudgetExceededError) console.log(e.decision.spentInWindow.toString());
 * }
 */
export class BudgetExceededError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.BudgetExceededError";
  /** The class name, which `error.name` and logs show. */
  override name = "BudgetExceededError";
  /** The blocking decision. */
  readonly decision: Decision;

  constructor(decision: Decision) {
    super(decision.message ?? `Blocked: ${decision.ledger.toString()}`);
    this.decision = decision;
  }
}

/** Alias of {@link BudgetExceededError}, under the name the original Python package exports. */
export const BudgetExceeded = BudgetExceededError;
/** Alias of {@link BudgetExceededError}. */
export type BudgetExceeded = BudgetExceededError;
