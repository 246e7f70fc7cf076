import { BudgetGateError } from "./budget-gate-error.js";

/**
 * `commit` or `release` named a reservation that does not exist (never made, already committed or
 * released, or expired so long ago that its record is gone). Nothing was changed.
 *
 * @example
 * await engine.commit(reservation, "0.1");
 * await engine.commit(reservation, "0.1"); // throws ReservationNotFoundError
 */
export class ReservationNotFoundError extends BudgetGateError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.ReservationNotFoundError";
  /** The class name, which `error.name` and logs show. */
  override name = "ReservationNotFoundError";
  /** The reservation id. */
  readonly reservationId: string;

  constructor(reservationId: string, detail = "it was never made, or was already committed or released") {
    super(`Reservation ${reservationId} not found: ${detail}`);
    this.reservationId = reservationId;
  }
}
