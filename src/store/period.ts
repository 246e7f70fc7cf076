import { PeriodRangeError } from "budgetgate";
import type { StoreWindow } from "../store.js";

/** One calendar period, `[start, end)` in seconds. */
export interface Period {
  /** First instant of the period. */
  readonly start: number;
  /** First instant of the next period. */
  readonly end: number;
}

/**
 * The period of a calendar window that holds `now`, by the store's clock: the engine sends a few
 * periods around its estimate of that clock, and the store, which alone knows its time, picks.
 *
 * @throws {PeriodRangeError} if `now` is outside every period sent (carrying `now`, so that the
 * engine can send periods around it). Throw it before changing anything.
 * @example
 * const { start, end } = currentPeriod(limit.window, now); // for limit.window.kind === "calendar"
 */
export function currentPeriod(window: Extract<StoreWindow, { kind: "calendar" }>, now: number): Period {
  const i = periodIndex(window, now);
  return { start: window.boundaries[i] as number, end: window.boundaries[i + 1] as number };
}

/**
 * The index in `window.boundaries` of the start of the period that holds `now`, by the rule of
 * {@link currentPeriod}; for a store that only checks, or reads the boundaries itself, without
 * making a {@link Period}.
 *
 * @throws {PeriodRangeError} if `now` is outside every period sent.
 * @example
 * const i = periodIndex(limit.window, now); // its period: [boundaries[i], boundaries[i + 1])
 */
export function periodIndex(window: Extract<StoreWindow, { kind: "calendar" }>, now: number): number {
  const b = window.boundaries;
  for (let i = b.length - 2; i >= 0; i--) {
    if ((b[i] as number) <= now) {
      if (now < (b[i + 1] as number)) return i;
      break;
    }
  }
  throw new PeriodRangeError(window.id, now);
}
