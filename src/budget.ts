import { type StoreLimit, show } from "budgetgate/store";
import type { Amount, AmountInput } from "./amount.js";
import { InvalidBudgetError } from "./errors.js";
import { Limit, type LimitJSON, type LimitOptions, type LimitWindow, MAX_LIMITS, storeLimit } from "./limit.js";
import { Mode, StoreErrorMode } from "./modes.js";

export { MAX_DURATION_SECONDS } from "./limit.js";

/** What every form of {@link BudgetOptions} shares. */
interface BudgetModes {
  /** HARD (default) raises on block; SOFT hands the blocked decision back; SHADOW never blocks. */
  readonly mode?: Mode;
  /** FAIL_CLOSED (default) blocks when the store fails; FAIL_OPEN allows. */
  readonly onStoreError?: StoreErrorMode;
}

/** A budget of one limit, written flat: `{ maxSpend, window }`. */
export interface SingleLimitBudgetOptions extends BudgetModes {
  /** Most that may be spent in the window. Zero or more. */
  readonly maxSpend: AmountInput;
  /**
   * Rolling window in seconds (above 0, at most {@link MAX_DURATION_SECONDS}), a calendar period,
   * or `null` for a lifetime budget. Default 3600.
   */
  readonly window?: LimitWindow;
  /** Alert levels in (0, 1], as {@link LimitOptions.alerts}. */
  readonly alerts?: readonly number[];
  /** Not with `maxSpend`: a budget of several limits lists them all in `limits`. */
  readonly limits?: undefined;
}

/** A budget of several limits: a call must fit all of them. */
export interface MultiLimitBudgetOptions extends BudgetModes {
  /** One to {@link MAX_LIMITS} limits. */
  readonly limits: readonly LimitOptions[];
  /** Not with `limits`: give each limit its own `maxSpend`. */
  readonly maxSpend?: undefined;
  /** Not with `limits`: give each limit its own `window`. */
  readonly window?: undefined;
  /** Not with `limits`: give each limit its own `alerts`. */
  readonly alerts?: undefined;
}

/** Options of {@link Budget}: one limit written flat, or `limits`. */
export type BudgetOptions = SingleLimitBudgetOptions | MultiLimitBudgetOptions;

/** The JSON form of a {@link Budget}, as `budget.toJSON()` writes it and `Budget.fromJSON` reads it. */
export interface BudgetJSON {
  /** Every limit, in order. */
  readonly limits: readonly LimitJSON[];
  /** HARD, SOFT or SHADOW. */
  readonly mode: Mode;
  /** FAIL_CLOSED or FAIL_OPEN. */
  readonly onStoreError: StoreErrorMode;
}

const SINGLE_KEYS = new Set(["maxSpend", "window", "alerts", "mode", "onStoreError", "limits"]);
const MODES: readonly Mode[] = [Mode.HARD, Mode.SOFT, Mode.SHADOW];

/**
 * A spend policy: one or several limits, each at most `maxSpend` in its window — rolling seconds, a
 * calendar period in a time zone, or the ledger's lifetime. A call is allowed only if it fits every
 * limit (shadow limits excepted) and is then recorded against all of them.
 *
 * @throws {InvalidBudgetError} for a bad limit (see {@link Limit}), no limits or more than
 * {@link MAX_LIMITS}, both `limits` and `maxSpend`, an unknown option, mode or onStoreError.
 * Nothing is registered or recorded then.
 * @example
 * const hourly = new Budget({ maxSpend: "10.00", window: 3600 });
 * const plan = new Budget({
 *   limits: [
 *     { maxSpend: "1", window: 60 },
 *     { maxSpend: "100", window: { calendar: "month", timeZone: "America/New_York" }, alerts: [0.8] },
 *   ],
 * });
 */
export class Budget {
  /** The limits, in the order given. */
  readonly limits: readonly Limit[];
  /** HARD, SOFT or SHADOW. */
  readonly mode: Mode;
  /** FAIL_CLOSED or FAIL_OPEN. */
  readonly onStoreError: StoreErrorMode;
  /** @internal True when some limit has alert levels. */
  readonly alerting: boolean;
  /** @internal True when some limit is a calendar period. */
  readonly calendar: boolean;
  readonly #fixed: readonly StoreLimit[] | null;
  /** With a calendar limit: the last storeLimits answer, reused while its windows are current. */
  #current: readonly StoreLimit[] | null = null;

  constructor(options: BudgetOptions) {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new InvalidBudgetError(
        `Invalid budget options ${show(options)}: expected { maxSpend, window?, mode?, onStoreError? } or { limits: [...], mode?, onStoreError? }`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!SINGLE_KEYS.has(key)) {
        throw new InvalidBudgetError(
          `Invalid budget: unknown option ${show(key)}; a budget takes maxSpend, window and alerts (one limit) or limits, and mode and onStoreError`,
        );
      }
    }
    const { mode = Mode.HARD, onStoreError = StoreErrorMode.FAIL_CLOSED } = options;
    if (!MODES.includes(mode)) {
      throw new InvalidBudgetError(`Invalid budget mode ${show(mode)}: expected "HARD", "SOFT" or "SHADOW"`);
    }
    if (onStoreError !== StoreErrorMode.FAIL_CLOSED && onStoreError !== StoreErrorMode.FAIL_OPEN) {
      throw new InvalidBudgetError(
        `Invalid budget onStoreError ${show(onStoreError)}: expected "FAIL_CLOSED" or "FAIL_OPEN"`,
      );
    }
    this.limits = limitsOf(options);
    this.mode = mode;
    this.onStoreError = onStoreError;
    this.alerting = this.limits.some((limit) => limit.alerts.length > 0);
    this.calendar = this.limits.some((limit) => limit.isCalendar);
    const enforce = mode !== Mode.SHADOW;
    this.#fixed = this.calendar ? null : this.limits.map((limit) => storeLimit(limit, enforce, 0));
  }

  /**
   * Reads a budget from its JSON form (a config file, a database row): `toJSON()`'s output, or any
   * object {@link BudgetOptions} accepts.
   *
   * @throws {InvalidBudgetError} exactly as the constructor does.
   * @example
   * const budget = Budget.fromJSON(JSON.parse('{"limits":[{"maxSpend":"10","window":{"calendar":"day"}}]}'));
   */
  static fromJSON(json: unknown): Budget {
    return new Budget(json as BudgetOptions);
  }

  /** The first limit's `maxSpend` (the only one's, for a budget of one limit). */
  get maxSpend(): Amount {
    return (this.limits[0] as Limit).maxSpend;
  }

  /** The first limit's window in seconds, or null for a lifetime one; a calendar window as an object. */
  get window(): Limit["window"] {
    return (this.limits[0] as Limit).window;
  }

  /** @internal The limits as a store takes them, for a store whose time is about `t`. */
  storeLimits(t: number): readonly StoreLimit[] {
    if (this.#fixed !== null) return this.#fixed;
    // The same array while `t` stays in every calendar limit's period (each limit reuses its
    // window object meanwhile), as a budget without a calendar answers always: a store may keep
    // what it derives from the array (RedisStore its encoded limits) instead of redoing it per call.
    const current = this.#current;
    if (current !== null && this.#holds(current, t)) return current;
    const enforce = this.mode !== Mode.SHADOW;
    const fresh = this.limits.map((limit) => storeLimit(limit, enforce, t));
    this.#current = fresh;
    return fresh;
  }

  #holds(current: readonly StoreLimit[], t: number): boolean {
    const limits = this.limits;
    for (let i = 0; i < limits.length; i++) {
      if ((limits[i] as Limit).storeWindow(t) !== (current[i] as StoreLimit).window) return false;
    }
    return true;
  }

  /** The JSON form; `Budget.fromJSON(budget.toJSON())` is an equal budget. */
  toJSON(): BudgetJSON {
    return { limits: this.limits.map((limit) => limit.toJSON()), mode: this.mode, onStoreError: this.onStoreError };
  }
}

function limitsOf(options: BudgetOptions): Limit[] {
  if (options.limits === undefined) {
    const { maxSpend, window, alerts } = options as SingleLimitBudgetOptions;
    return [
      new Limit(
        { maxSpend, ...(window !== undefined ? { window } : {}), ...(alerts !== undefined ? { alerts } : {}) },
        "budget",
      ),
    ];
  }
  const { limits } = options;
  if (options.maxSpend !== undefined || options.window !== undefined || options.alerts !== undefined) {
    throw new InvalidBudgetError(
      "Invalid budget: give either limits or maxSpend/window/alerts, not both; move the flat limit into limits",
    );
  }
  if (!Array.isArray(limits) || limits.length === 0 || limits.length > MAX_LIMITS) {
    throw new InvalidBudgetError(
      `Invalid budget limits ${show(limits)}: expected an array of 1 to ${MAX_LIMITS} limits (MAX_LIMITS)`,
    );
  }
  return limits.map((limit, i) => new Limit(limit, `budget limits[${i}]`));
}
