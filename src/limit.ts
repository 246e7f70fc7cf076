import { type StoreLimit, type StoreWindow, show } from "budgetgate/store";
import { Amount, type AmountInput } from "./amount.js";
import { CALENDAR_UNITS, Calendar, type CalendarUnit, checkedTimeZone } from "./calendar.js";
import { InvalidAmountError, InvalidBudgetError } from "./errors.js";

/**
 * Longest duration budgetgate accepts, in seconds: 10¹² s, about 31,700 years. It bounds a rolling
 * `window` and the engine's `reservationTtl` and `lateCommitWindow`, so that every store holds
 * every accepted value (Redis expiry times, in ms, stop being integers to it near 10¹⁴ s).
 * For anything longer, use a lifetime limit (`window: null`).
 */
export const MAX_DURATION_SECONDS = 1e12;

/** Most limits one budget may have. */
export const MAX_LIMITS = 16;

/** A calendar period in a time zone: a window that starts afresh at each period's first instant. */
export interface CalendarWindow {
  /** `"day"`, `"week"`, `"month"` or `"year"`. */
  readonly calendar: CalendarUnit;
  /** IANA time zone the periods start in (midnight there). Default `"UTC"`. */
  readonly timeZone?: string;
  /** First day of a week, 0 (Sunday) to 6 (Saturday). Default 1 (Monday); only for weeks. */
  readonly weekStartsOn?: number;
}

/**
 * What a limit counts spend over: a rolling window in seconds, a {@link CalendarWindow}, or `null`
 * for the ledger's whole lifetime.
 */
export type LimitWindow = number | CalendarWindow | null;

/** Options of one {@link Limit}; also its JSON form. */
export interface LimitOptions {
  /** Most that may be spent in the window. Zero or more. */
  readonly maxSpend: AmountInput;
  /**
   * Rolling window in seconds (above 0, at most {@link MAX_DURATION_SECONDS}), a calendar period
   * (`{ calendar: "month", timeZone: "Europe/Paris" }`), or `null` for a lifetime. Default 3600.
   */
  readonly window?: LimitWindow;
  /**
   * Alert levels, fractions of `maxSpend` above 0 and at most 1 (`[0.5, 0.8, 1]`): the engine's
   * threshold listeners hear each time spend reaches a level from below (docs/policies.md).
   */
  readonly alerts?: readonly number[];
  /** A shadow limit records and reports as usual but never blocks. Default false. */
  readonly shadow?: boolean;
}

/** The JSON form of a {@link Limit}, as `limit.toJSON()` writes it. */
export interface LimitJSON {
  /** Most that may be spent, as a decimal string. */
  readonly maxSpend: string;
  /** The window, in the form {@link LimitOptions.window} takes. */
  readonly window:
    | number
    | {
        /** `"day"`, `"week"`, `"month"` or `"year"`. */
        calendar: CalendarUnit;
        /** The IANA time zone, as written. */
        timeZone: string;
        /** First day of the week, 0 (Sunday) to 6; weeks only. */
        weekStartsOn?: number;
      }
    | null;
  /** Alert levels, ascending; left out when there are none. */
  readonly alerts?: readonly number[];
  /** Present and true for a shadow limit. */
  readonly shadow?: true;
}

const LIMIT_KEYS = new Set(["maxSpend", "window", "alerts", "shadow"]);
const CALENDAR_KEYS = new Set(["calendar", "timeZone", "weekStartsOn"]);

/**
 * One cap of a budget: at most `maxSpend` in its window. Made by {@link Budget} from its options;
 * read it from `budget.limits` or from a decision's `limits`.
 *
 * @throws {InvalidBudgetError} for a bad `maxSpend`, window, time zone, week start or alert level,
 * or an unknown option; the message names the limit and the value.
 * @example
 * const burst = new Limit({ maxSpend: "1", window: 60, alerts: [0.8] });
 * burst.windowId; // "r:60"
 */
export class Limit {
  /** Most that may be spent in the window. */
  readonly maxSpend: Amount;
  /** The window: seconds, a calendar period (time zone as written), or null. */
  readonly window: number | Required<CalendarWindow> | null;
  /** Alert levels, ascending, each in (0, 1]. */
  readonly alerts: readonly number[];
  /** True for a shadow limit, which never blocks. */
  readonly shadow: boolean;
  /**
   * The window's identity in every store: limits with the same id count the same spends, so a
   * changed `maxSpend` keeps what was spent. `"r:<seconds>"`, `"c:<unit>:<zone>[:<week start>]"`, or `"life"`.
   */
  readonly windowId: string;
  /** @internal The spend each alert level is reached at, in units of 10⁻¹⁸ (rounded up). */
  readonly thresholds: readonly bigint[];
  readonly #calendar: Calendar | null;
  readonly #fixed: StoreWindow | null;
  #boundaries: readonly number[] | null = null;
  #storeWindow: StoreWindow | null = null;
  /** The `held` of the last {@link ceiling} asked (−1 before the first: amounts are never negative), and its answer. */
  #heldFor = -1n;
  #ceiling = 0n;

  constructor(options: LimitOptions, where = "limit") {
    if (typeof options !== "object" || options === null) {
      throw new InvalidBudgetError(
        `Invalid ${where} ${show(options)}: expected { maxSpend, window?, alerts?, shadow? }`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!LIMIT_KEYS.has(key)) {
        throw new InvalidBudgetError(
          `Invalid ${where}: unknown option ${show(key)}; a limit takes maxSpend, window, alerts and shadow`,
        );
      }
    }
    const { maxSpend, window = 3600, alerts = [], shadow = false } = options;
    try {
      this.maxSpend = Amount.from(maxSpend);
    } catch (error) {
      if (error instanceof InvalidAmountError) {
        throw new InvalidBudgetError(`Invalid ${where} maxSpend: ${error.message}`, { cause: error });
      }
      throw error;
    }
    if (typeof shadow !== "boolean") {
      throw new InvalidBudgetError(`Invalid ${where} shadow ${show(shadow)}: expected true or false`);
    }
    this.shadow = shadow;
    if (window === null) {
      this.window = null;
      this.windowId = "life";
      this.#calendar = null;
      this.#fixed = { kind: "lifetime", id: this.windowId };
    } else if (typeof window === "number") {
      if (!(window > 0 && window <= MAX_DURATION_SECONDS)) {
        throw new InvalidBudgetError(
          `Invalid ${where} window ${show(window)}: expected a number of seconds above 0 and at most ${MAX_DURATION_SECONDS} (MAX_DURATION_SECONDS), a calendar period such as { calendar: "month" }, or null for a lifetime`,
        );
      }
      this.window = window;
      this.windowId = `r:${window}`;
      this.#calendar = null;
      this.#fixed = { kind: "rolling", id: this.windowId, seconds: window };
    } else {
      const calendar = calendarOf(window, where);
      this.window = calendar;
      this.#calendar = new Calendar(calendar.calendar, calendar.timeZone, calendar.weekStartsOn);
      this.windowId =
        calendar.calendar === "week"
          ? `c:week:${calendar.timeZone}:${calendar.weekStartsOn}`
          : `c:${calendar.calendar}:${calendar.timeZone}`;
      this.#fixed = null;
    }
    this.alerts = alertsOf(alerts, where);
    this.thresholds = this.alerts.map((level) => {
      const fraction = Amount.from(level).units;
      // Rounded up: a level is reached only once spend is at or above it, never just below.
      return (this.maxSpend.units * fraction + 10n ** 18n - 1n) / 10n ** 18n;
    });
  }

  /**
   * @internal The most committed spend with which `held` (the holds and the request) still fits:
   * `maxSpend − held`, kept for the last `held` asked. A ledger is mostly charged the same amount
   * again, and sums past 2⁶⁴ units (any `maxSpend` above 9.22) cost V8 an allocation each, so a
   * comparison against the kept answer is what a check costs per limit.
   */
  ceiling(held: bigint): bigint {
    if (held !== this.#heldFor) {
      this.#ceiling = this.maxSpend.units - held;
      this.#heldFor = held;
    }
    return this.#ceiling;
  }

  /** True for a calendar period. */
  get isCalendar(): boolean {
    return this.#calendar !== null;
  }

  /**
   * @internal The window as a store sees it, for a store whose time is about `t`. Calendar windows
   * carry the periods around `t`; the object is reused while `t` stays in one period.
   */
  storeWindow(t: number): StoreWindow {
    if (this.#fixed !== null) return this.#fixed;
    const boundaries = (this.#calendar as Calendar).boundariesAround(t);
    if (boundaries !== this.#boundaries || this.#storeWindow === null) {
      this.#boundaries = boundaries;
      this.#storeWindow = { kind: "calendar", id: this.windowId, boundaries };
    }
    return this.#storeWindow;
  }

  /** @internal The end of the calendar period that holds `t`; null for other windows. */
  periodEnd(t: number): number | null {
    // From the cached periods around `t` ([previous, current, next, …] starts): computing a start
    // afresh costs Intl calls, and a blocked decision's resetsAt is read on the hot path.
    return this.#calendar === null ? null : (this.#calendar.boundariesAround(t)[2] as number);
  }

  /** The JSON form: what {@link Limit} and `Budget` take back. */
  toJSON(): LimitJSON {
    const window = this.window;
    return {
      maxSpend: this.maxSpend.toString(),
      window:
        window === null || typeof window === "number"
          ? window
          : window.calendar === "week"
            ? { ...window }
            : { calendar: window.calendar, timeZone: window.timeZone },
      ...(this.alerts.length > 0 ? { alerts: [...this.alerts] } : {}),
      ...(this.shadow ? { shadow: true as const } : {}),
    };
  }
}

/** @internal A store limit for `limit` under a budget that enforces (or only shadows). */
export function storeLimit(limit: Limit, enforce: boolean, t: number): StoreLimit {
  return { window: limit.storeWindow(t), maxSpend: limit.maxSpend.units, enforce: enforce && !limit.shadow };
}

function calendarOf(window: unknown, where: string): Required<CalendarWindow> {
  const spec = window as Partial<Record<string, unknown>>;
  if (typeof window !== "object" || window === null || Array.isArray(window)) {
    throw new InvalidBudgetError(
      `Invalid ${where} window ${show(window)}: expected seconds, { calendar: "day" | "week" | "month" | "year", timeZone? }, or null`,
    );
  }
  for (const key of Object.keys(spec)) {
    if (!CALENDAR_KEYS.has(key)) {
      throw new InvalidBudgetError(
        `Invalid ${where} window: unknown option ${show(key)}; a calendar window takes calendar, timeZone and weekStartsOn`,
      );
    }
  }
  const unit = spec.calendar;
  if (!CALENDAR_UNITS.includes(unit as CalendarUnit)) {
    throw new InvalidBudgetError(
      `Invalid ${where} window calendar ${show(unit)}: expected one of ${CALENDAR_UNITS.map((u) => `"${u}"`).join(", ")}`,
    );
  }
  const timeZone = checkedTimeZone((spec.timeZone ?? "UTC") as string);
  const weekStartsOn = spec.weekStartsOn ?? 1;
  if (!Number.isInteger(weekStartsOn) || (weekStartsOn as number) < 0 || (weekStartsOn as number) > 6) {
    throw new InvalidBudgetError(
      `Invalid ${where} window weekStartsOn ${show(weekStartsOn)}: expected a whole number from 0 (Sunday) to 6 (Saturday)`,
    );
  }
  if (unit !== "week" && spec.weekStartsOn !== undefined) {
    throw new InvalidBudgetError(
      `Invalid ${where} window: weekStartsOn applies to { calendar: "week" } only, not ${show(unit)}`,
    );
  }
  return { calendar: unit as CalendarUnit, timeZone, weekStartsOn: weekStartsOn as number };
}

function alertsOf(alerts: unknown, where: string): number[] {
  if (!Array.isArray(alerts)) {
    throw new InvalidBudgetError(
      `Invalid ${where} alerts ${show(alerts)}: expected an array of levels such as [0.5, 0.8, 1]`,
    );
  }
  for (const level of alerts) {
    if (typeof level !== "number" || !(level > 0 && level <= 1)) {
      throw new InvalidBudgetError(
        `Invalid ${where} alert level ${show(level)}: expected a fraction of maxSpend above 0 and at most 1, such as 0.8`,
      );
    }
    try {
      Amount.from(level);
    } catch (error) {
      throw new InvalidBudgetError(`Invalid ${where} alert level ${show(level)}: at most 18 decimal places`, {
        cause: error,
      });
    }
  }
  const sorted = [...new Set(alerts as number[])].sort((a, b) => a - b);
  if (sorted.length !== alerts.length) {
    throw new InvalidBudgetError(`Invalid ${where} alerts ${show(alerts)}: a level is listed twice`);
  }
  return sorted;
}
