import type { Decision } from "./decision.js";

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
 * The store failed or did not answer in time. Decisions turn this into a STORE_ERROR decision
 * per the budget's `onStoreError`; `commit`, `release`, `spent` and the rest throw it.
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
 * A store call did not answer within the engine's `storeTimeoutMs`.
 *
 * @example
 * new Engine({ store, storeTimeoutMs: 50 }); // calls slower than 50 ms fail with StoreTimeoutError
 */
export class StoreTimeoutError extends StoreError {
  /** The class name, which `error.name` and logs show. */
  override name = "StoreTimeoutError";
  /** The timeout that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number) {
    super(`Store ${operation} did not answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Renders a user's value for an error message: strings quoted, other types named. Exported for
 * store and integration authors, so that every message in the library names values the same way.
 *
 * @example
 * throw new ConfigurationError(`Invalid prefix ${show(prefix)}: expected a string`);
 */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (typeof value === "function") return "a function";
  try {
    return `${Object.prototype.toString.call(value)} ${JSON.stringify(value)}`;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
