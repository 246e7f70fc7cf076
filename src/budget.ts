import { show } from "budgetgate/store";
import { Amount, type AmountInput } from "./amount.js";
import { InvalidAmountError, InvalidBudgetError } from "./errors.js";
import { Mode, StoreErrorMode } from "./modes.js";

/**
 * Longest duration budgetgate accepts, in seconds: 10¹² s, about 31,700 years. It bounds a budget's
 * `window` and the engine's `reservationTtl` and `lateCommitWindow`, so that every store holds
 * every accepted value (Redis expiry times, in ms, stop being integers to it near 10¹⁴ s).
 * For anything longer, use a lifetime budget (`window: null`).
 */
export const MAX_DURATION_SECONDS = 1e12;

/** Options of {@link Budget}. */
export interface BudgetOptions {
  /** Most that may be spent in the window. Zero or more. */
  readonly maxSpend: AmountInput;
  /**
   * Rolling window in seconds (above 0, at most {@link MAX_DURATION_SECONDS}), or `null` for a
   * lifetime budget. Default 3600.
   */
  readonly window?: number | null;
  /** HARD (default) raises on block; SOFT hands the blocked decision back. */
  readonly mode?: Mode;
  /** FAIL_CLOSED (default) blocks when the store fails; FAIL_OPEN allows. */
  readonly onStoreError?: StoreErrorMode;
}

/**
 * A spend policy: at most `maxSpend` in any rolling `window` seconds (or ever, with `window: null`).
 *
 * @throws {InvalidBudgetError} for a negative or malformed `maxSpend`, a window that is not a
 * number above 0 and at most {@link MAX_DURATION_SECONDS} or null, or an unknown mode.
 * @example
 * const hourly = new Budget({ maxSpend: "10.00", window: 3600 });
 * const lifetime = new Budget({ maxSpend: "250", window: null, mode: Mode.SOFT });
 */
export class Budget {
  /** Most that may be spent in the window. */
  readonly maxSpend: Amount;
  /** Window in seconds, or null for a lifetime budget. */
  readonly window: number | null;
  /** HARD or SOFT. */
  readonly mode: Mode;
  /** FAIL_CLOSED or FAIL_OPEN. */
  readonly onStoreError: StoreErrorMode;

  constructor(options: BudgetOptions) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidBudgetError(
        `Invalid budget options ${show(options)}: expected { maxSpend, window?, mode?, onStoreError? }`,
      );
    }
    const { maxSpend, window = 3600, mode = Mode.HARD, onStoreError = StoreErrorMode.FAIL_CLOSED } = options;
    try {
      this.maxSpend = Amount.from(maxSpend);
    } catch (error) {
      if (error instanceof InvalidAmountError) {
        throw new InvalidBudgetError(`Invalid budget maxSpend: ${error.message}`, { cause: error });
      }
      throw error;
    }
    if (window !== null && (typeof window !== "number" || !(window > 0 && window <= MAX_DURATION_SECONDS))) {
      throw new InvalidBudgetError(
        `Invalid budget window ${show(window)}: expected a number of seconds above 0, or null for a lifetime budget; at most ${MAX_DURATION_SECONDS} s (MAX_DURATION_SECONDS)`,
      );
    }
    if (mode !== Mode.HARD && mode !== Mode.SOFT) {
      throw new InvalidBudgetError(`Invalid budget mode ${show(mode)}: expected "HARD" or "SOFT"`);
    }
    if (onStoreError !== StoreErrorMode.FAIL_CLOSED && onStoreError !== StoreErrorMode.FAIL_OPEN) {
      throw new InvalidBudgetError(
        `Invalid budget onStoreError ${show(onStoreError)}: expected "FAIL_CLOSED" or "FAIL_OPEN"`,
      );
    }
    this.window = window;
    this.mode = mode;
    this.onStoreError = onStoreError;
  }
}
