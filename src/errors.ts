import { show } from "budgetgate/store";
import type { Decision } from "./decision.js";
import type { Settlement } from "./reservation.js";

/**
 * Base class of every error budgetgate throws, so that `catch (e) { if (e instanceof BudgetGateError) … }`
 * catches them all.
 *
 * @example
 * try { await engine.check(ledger, "-1") } catch (e) { e instanceof BudgetGateError } // true
 */
export class BudgetGateError extends Error {
  /** The class name, which `error.name` and logs show. */
  override name = "BudgetGateError";
}

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

/**
 * A value given as an amount is not one: NaN, infinite, negative, too precise or of the wrong type.
 * `value` holds what was given.
 *
 * @example
 * Amount.from("1e3"); // throws InvalidAmountError: Invalid amount "1e3": expected plain decimal notation …
 */
export class InvalidAmountError extends BudgetGateError {
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidAmountError";
  /** The rejected value. */
  readonly value: unknown;

  constructor(value: unknown, why: string) {
    super(`Invalid amount ${show(value)}: ${why}`);
    this.value = value;
  }
}

/**
 * A ledger field is empty, not a string, or contains a separator it may not hold.
 *
 * @example
 * new Ledger("open:ai", "gpt-4o"); // throws InvalidLedgerError: namespace "open:ai" may not contain ":" …
 */
export class InvalidLedgerError extends BudgetGateError {
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidLedgerError";
}

/**
 * A budget option is out of range: a negative `maxSpend`, a window that is not a positive number,
 * an unknown mode.
 *
 * @example
 * new Budget({ maxSpend: "10", window: 0 }); // throws InvalidBudgetError
 */
export class InvalidBudgetError extends BudgetGateError {
  /** The class name, which `error.name` and logs show. */
  override name = "InvalidBudgetError";
}

/**
 * A call was configured wrongly: a ledger with no budget passed or registered, the same ledger
 * twice in one charge, an engine option out of range.
 *
 * @example
 * await new Engine().check(new Ledger("a", "b"), 1); // throws ConfigurationError: no budget for a:b@global
 */
export class ConfigurationError extends BudgetGateError {
  /** The class name, which `error.name` and logs show. */
  override name = "ConfigurationError";
}

/**
 * `commit` or `release` named a reservation that does not exist (never made, already committed or
 * released, or expired so long ago that its record is gone). Nothing was changed.
 *
 * @example
 * await engine.commit(reservation, "0.1");
 * await engine.commit(reservation, "0.1"); // throws ReservationNotFoundError
 */
export class ReservationNotFoundError extends BudgetGateError {
  /** The class name, which `error.name` and logs show. */
  override name = "ReservationNotFoundError";
  /** The reservation id. */
  readonly reservationId: string;

  constructor(reservationId: string, detail = "it was never made, or was already committed or released") {
    super(`Reservation ${reservationId} not found: ${detail}`);
    this.reservationId = reservationId;
  }
}

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
  /** The class name, which `error.name` and logs show. */
  override name = "StoreError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A store call passed its deadline (the engine's `storeTimeoutMs`) without an answer, on every
 * store alike: the engine's own timer, a lock wait that ran out, or a server that found the call
 * late. `operation` names the store method (`"charge"`, `"commit"`, `"spent"`, …).
 *
 * @example
 * new Engine({ store, storeTimeoutMs: 50 }); // calls slower than 50 ms fail with StoreTimeoutError
 */
export class StoreTimeoutError extends StoreError {
  /** The class name, which `error.name` and logs show. */
  override name = "StoreTimeoutError";
  /** The store operation that ran out of time. */
  readonly operation: string;
  /** The timeout that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number, detail?: string, options?: { cause?: unknown }) {
    super(`Store ${operation} did not answer within ${timeoutMs} ms${detail ? `: ${detail}` : ""}`, options);
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The store's state cannot be read, or cannot hold a value: a corrupt or foreign record under the
 * store's keys, a total beyond what its columns hold. Not a {@link StoreError}: retrying or failing
 * open would not help, so it reaches the caller of every operation, and nothing is changed.
 *
 * @example
 * try { await engine.check(ledger, "1") } catch (e) { if (e instanceof StateError) alertOperator(e); }
 */
export class StateError extends BudgetGateError {
  override name = "StateError";
}
