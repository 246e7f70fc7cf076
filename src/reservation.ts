import type { StoreLine } from "budgetgate/store";
import type { Amount } from "./amount.js";
import type { Budget } from "./budget.js";
import type { Ledger } from "./ledger.js";

/**
 * A hold on budget headroom, made by `engine.reserve` before an action of bounded cost runs.
 * Settle it exactly once: `engine.commit(reservation, actual)` after the action, or
 * `engine.release(reservation)` if it failed. An unsettled hold stops counting after the engine's
 * `reservationTtl`.
 *
 * @example
 * const { reservation, decision } = await engine.reserve(ledger, "0.50");
 * if (reservation) {
 *   try { const r = await callModel(); await engine.commit(reservation, costOf(r)); }
 *   catch (e) { await engine.release(reservation); throw e; }
 * }
 */
export class Reservation {
  /** Unique id (a UUID); the store knows the hold by it. */
  readonly id: string;
  /** The estimate held. */
  readonly estimate: Amount;
  /** The ledgers held on, in the order given. */
  readonly ledgers: readonly Ledger[];
  /** The budget of each ledger. */
  readonly budgets: readonly Budget[];
  /**
   * False when the store failed and a FAIL_OPEN budget let the action run without a hold:
   * there is nothing to commit or release, and both only mark the reservation settled (its spend,
   * like that of a fail-open check, goes unrecorded).
   */
  readonly held: boolean;
  /** @internal The lines handed to the store, kept for commit. */
  readonly lines: readonly StoreLine[];

  /** @internal Made by the engine only. */
  constructor(id: string, estimate: Amount, lines: readonly StoreLine[], budgets: readonly Budget[], held: boolean) {
    this.id = id;
    this.estimate = estimate;
    this.lines = lines;
    this.ledgers = lines.map((line) => line.ledger);
    this.budgets = budgets;
    this.held = held;
  }
}

/** What `engine.commit` and `engine.release` report. */
export interface Settlement {
  /** The reservation settled. */
  readonly reservation: Reservation;
  /** The spend recorded: the actual cost for a commit; zero for a release, or for a fail-open reservation. */
  readonly recorded: Amount;
  /** True if the hold had expired before it was settled; a late commit is still recorded. */
  readonly late: boolean;
  /** True if a commit's actual cost was above the estimate (recorded in full all the same). */
  readonly overEstimate: boolean;
}
