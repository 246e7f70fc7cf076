/**
 * A source of time in seconds. Give an engine one to make every store decide by it (tests, replays);
 * without one, each store uses its own: monotonic in-process, the server's clock when shared.
 *
 * @example
 * let t = 0;
 * const engine = new Engine({ clock: () => t });
 * t += 3600; // an hour later
 */
export type Clock = () => number;

/** `Date.now()` at `performance.now()` zero, in milliseconds: read once, when the module loads. */
const ORIGIN_MS = Date.now() - performance.now();

/**
 * Seconds since the Unix epoch, from a monotonic source: `performance.now()` placed on the
 * wall-clock scale once, when the module loads. It never runs backward and ignores later jumps of
 * the wall clock (an NTP step, a changed time zone or date), yet reads as a date, so that calendar
 * periods (a day, a month) fall where the calendar puts them. It drifts from the wall clock as far
 * as the wall clock is later set; within one process every reading is consistent with every other.
 *
 * @example
 * new Date(monotonicClock() * 1000); // about now
 */
export const monotonicClock: Clock = () => (ORIGIN_MS + performance.now()) / 1000;
