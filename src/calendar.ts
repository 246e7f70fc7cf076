/**
 * Calendar arithmetic for calendar-period limits ("10 per day in America/New_York"): where a day,
 * week, month or year starts in a time zone, as an instant in seconds since the epoch.
 *
 * No dependencies: the zone rules come from `Intl.DateTimeFormat`, which every runtime budgetgate
 * supports has (Node, Bun, Deno, workerd, the Edge runtime). Internally everything is whole
 * milliseconds (integers, exact in a double), and the zone rules have a resolution of one second, so
 * every boundary is a whole number of seconds.
 */
import { InvalidBudgetError } from "./errors.js";

/** The calendar units a limit can reset on. */
export type CalendarUnit = "day" | "week" | "month" | "year";

/**
 * Every {@link CalendarUnit}, for validating options and for messages that list them.
 *
 * @example
 * CALENDAR_UNITS.includes(unit as CalendarUnit); // false for "hour"
 */
export const CALENDAR_UNITS: readonly CalendarUnit[] = Object.freeze(["day", "week", "month", "year"] as const);

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;
/** 400 Gregorian years are exactly 146,097 days: shifts a year out of `Date.UTC`'s 0–99 → 1900s quirk. */
const FOUR_CENTURIES_MS = 146_097 * DAY_MS;
/**
 * More than any UTC offset a zone has ever had (the largest in the tz database are under 16 hours,
 * local mean times included): a local midnight happens within this distance of the same wall time
 * read as UTC.
 */
const OFFSET_SPAN_MS = 16 * 3_600_000;
/**
 * The instants `startOf` accepts, in seconds: `Date` holds ±8.64e12 s, and the arithmetic looks up
 * to a year and a bit beyond `t`, so stay a few thousand years inside.
 */
const MAX_SECONDS = 8.6e12;

// Keyed by zone name as written: one formatter per spelling a program uses (a handful, in practice).
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    // en-US with an era: the one locale whose parts we parse, and BC years are told apart from AD.
    // hourCycle h23: midnight is 0, not 24 (the parser still maps 24 for engines that got it wrong).
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** `Date.UTC` for every year, including 0–99 (which `Date.UTC` reads as 1900–1999). */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  if (year >= 0 && year < 100) {
    return Date.UTC(year + 400, month, day, hour, minute, second) - FOUR_CENTURIES_MS;
  }
  return Date.UTC(year, month, day, hour, minute, second);
}

/**
 * The wall clock of `zone` at instant `u` (ms), as the UTC instant with the same reading, to the
 * second: `wall(u) - floor(u to seconds)` is the zone's offset at `u`.
 */
function wallMs(f: Intl.DateTimeFormat, u: number): number {
  let bc = false;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of f.formatToParts(u)) {
    switch (part.type) {
      case "era":
        bc = part.value === "BC" || part.value === "B";
        break;
      case "year":
        year = Number(part.value);
        break;
      case "month":
        month = Number(part.value);
        break;
      case "day":
        day = Number(part.value);
        break;
      case "hour":
        hour = Number(part.value) % 24;
        break;
      case "minute":
        minute = Number(part.value);
        break;
      case "second":
        second = Number(part.value);
        break;
    }
  }
  // Year 1 BC is year 0 of the proleptic Gregorian calendar that Date counts in.
  return utcMs(bc ? 1 - year : year, month - 1, day, hour, minute, second);
}

/** The zone's UTC offset (ms) at instant `u`. */
function offsetMs(f: Intl.DateTimeFormat, u: number): number {
  return wallMs(f, u) - Math.floor(u / SECOND_MS) * SECOND_MS;
}

/**
 * The first instant whose wall clock reads `local` or later (`local`: a local midnight, as the UTC
 * instant with the same reading). That is the midnight itself; the first of two midnights when a
 * fall-back repeats it; the end of the gap when a spring-forward skips it.
 */
function firstInstantAtOrAfter(f: Intl.DateTimeFormat, local: number): number {
  // The offsets in force around the midnight: one, or two if a transition is near.
  const before = offsetMs(f, local - OFFSET_SPAN_MS);
  const after = offsetMs(f, local + OFFSET_SPAN_MS);
  const uBefore = local - before;
  const uAfter = local - after;
  // A candidate is the midnight iff the zone really has the offset it assumes there. With two
  // valid ones (a fall-back repeats the midnight) the earlier is the first midnight.
  let best = Number.POSITIVE_INFINITY;
  if (offsetMs(f, uBefore) === before) best = uBefore;
  if (after !== before && uAfter < best && offsetMs(f, uAfter) === after) best = uAfter;
  if (best !== Number.POSITIVE_INFINITY) return best;
  // No candidate: the midnight is in a gap, and the period starts where the gap ends, the first
  // instant whose wall clock reaches `local`. Bisect for it, to the second (transitions are at
  // whole seconds), between a reading before `local` and one at or after it.
  let lo = Math.min(uBefore, uAfter);
  let hi = Math.max(uBefore, uAfter);
  if (!(wallMs(f, lo) < local && wallMs(f, hi) >= local)) {
    // Two transitions within hours of each other (never in today's rules): search wider.
    lo = local - OFFSET_SPAN_MS;
    hi = local + OFFSET_SPAN_MS;
  }
  while (hi - lo > SECOND_MS) {
    const mid = lo + Math.floor((hi - lo) / (2 * SECOND_MS)) * SECOND_MS;
    if (wallMs(f, mid) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function zoneError(zone: unknown, cause?: unknown): InvalidBudgetError {
  const shown = typeof zone === "string" ? JSON.stringify(zone) : String(zone);
  return new InvalidBudgetError(
    `Invalid time zone ${shown}: expected an IANA time zone name like "America/New_York" or "UTC"`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * A time zone name, checked: returned exactly as written when this runtime's `Intl` knows the zone.
 *
 * The name is part of a calendar window's id in every store, so it is kept as written rather than
 * as `Intl` resolves it: runtimes resolve names differently (V8 and Deno answer `"Asia/Calcutta"`
 * for `"Asia/Kolkata"` and `"UTC"` for `"Etc/UTC"`; Bun keeps both), and processes on two runtimes
 * sharing a store must find one window. Two spellings of one zone (`"Asia/Kolkata"`,
 * `"Asia/Calcutta"`, `"utc"`, `"UTC"`) are therefore two windows with the same boundaries.
 *
 * Offset strings such as `"+05:30"` are refused even where the runtime's `Intl` accepts them (newer
 * engines do, Node 20 does not), so that a budget valid on one runtime is valid on all; an
 * `Etc/GMT-5`-style name gives a fixed offset everywhere.
 *
 * @throws {InvalidBudgetError} if `zone` is not a string naming a time zone this runtime knows,
 * naming the zone and the expected form.
 * @example
 * checkedTimeZone("Asia/Kolkata"); // "Asia/Kolkata", on every runtime
 * checkedTimeZone("Mars/Olympus"); // throws InvalidBudgetError
 */
export function checkedTimeZone(zone: string): string {
  if (typeof zone !== "string" || zone === "" || zone.startsWith("+") || zone.startsWith("-")) {
    throw zoneError(zone);
  }
  try {
    formatterFor(zone);
  } catch (error) {
    throw zoneError(zone, error);
  }
  return zone;
}

/** How many `boundariesAround` answers a calendar keeps: a clock skewed across a boundary alternates two. */
const CACHED_PERIODS = 4;

/**
 * A compiled calendar: where the periods of one unit start in one time zone.
 *
 * A period starts at local midnight (00:00:00) of its first day: each local date for `"day"`; the
 * date whose weekday is `weekStartsOn` for `"week"`; the 1st for `"month"`; January 1st for
 * `"year"`. Where that midnight does not exist (a DST gap at midnight, as in America/Santiago), the
 * period starts at the first instant of the date, the end of the gap; where a fall-back repeats
 * midnight, at the first one. Periods are half-open, `[start, next)`: an instant exactly at a
 * boundary belongs to the new period. Instants are seconds since the epoch; boundaries are always
 * whole seconds.
 *
 * @throws {InvalidBudgetError} from the constructor, for an unknown unit, a `weekStartsOn` that is
 * not an integer 0–6, or an unknown time zone.
 * @example
 * const days = new Calendar("day", "America/New_York", 1);
 * const start = days.startOf(Date.UTC(2026, 2, 8, 12) / 1000); // 2026-03-08T05:00:00Z, in seconds
 * days.next(start) - start; // 82_800: the 23-hour day DST starts on
 */
export class Calendar {
  /** The unit periods are counted in. */
  readonly unit: CalendarUnit;
  /** The IANA name of the zone whose local midnights start the periods, as written. */
  readonly timeZone: string;
  /** The weekday a week starts on: 0 = Sunday … 6 = Saturday (1 = Monday by default). Only weeks use it. */
  readonly weekStartsOn: number;

  readonly #format: Intl.DateTimeFormat;
  /** Recent `boundariesAround` answers, most recent first: `b[1] <= t < b[2]` finds `t`'s. */
  readonly #cache: (readonly number[])[] = [];

  /**
   * @param unit the period: `"day"`, `"week"`, `"month"` or `"year"`.
   * @param timeZone an IANA zone name this runtime knows (see {@link checkedTimeZone}).
   * @param weekStartsOn 0 = Sunday … 6 = Saturday; checked for every unit, used for weeks.
   * @throws {InvalidBudgetError} for an unknown unit, zone, or a `weekStartsOn` outside 0–6.
   * @example
   * new Calendar("week", "UTC", 0); // weeks from Sunday 00:00 UTC
   */
  constructor(unit: CalendarUnit, timeZone: string, weekStartsOn = 1) {
    if (!CALENDAR_UNITS.includes(unit)) {
      throw new InvalidBudgetError(
        `Invalid calendar unit ${JSON.stringify(unit)}: expected one of ${CALENDAR_UNITS.join(", ")}`,
      );
    }
    if (!Number.isInteger(weekStartsOn) || weekStartsOn < 0 || weekStartsOn > 6) {
      throw new InvalidBudgetError(
        `Invalid weekStartsOn ${String(weekStartsOn)}: expected an integer from 0 (Sunday) to 6 (Saturday)`,
      );
    }
    this.unit = unit;
    this.timeZone = checkedTimeZone(timeZone);
    this.weekStartsOn = weekStartsOn;
    this.#format = formatterFor(this.timeZone);
  }

  /**
   * The start of the period that holds instant `t`.
   *
   * @param t seconds since the epoch; fractions are fine (boundaries are whole seconds).
   * @returns seconds since the epoch, `<= t`.
   * @throws {RangeError} if `t` is not finite or beyond ±8.6e12 s (about ±270,000 years).
   * @example
   * new Calendar("month", "UTC", 1).startOf(Date.UTC(2024, 1, 29, 13) / 1000); // Date.UTC(2024, 1, 1) / 1000
   */
  startOf(t: number): number {
    return this.#period(t)[0] / SECOND_MS;
  }

  /**
   * The start of the period after the one that holds `start` (normally a period start).
   *
   * @throws {RangeError} as {@link Calendar.startOf}.
   * @example
   * new Calendar("year", "UTC", 1).next(Date.UTC(2024, 0, 1) / 1000); // Date.UTC(2025, 0, 1) / 1000
   */
  next(start: number): number {
    return this.#period(start)[1] / SECOND_MS;
  }

  /**
   * The start of the period before the one that holds `start` (normally a period start).
   *
   * @throws {RangeError} as {@link Calendar.startOf}.
   * @example
   * new Calendar("day", "UTC", 1).previous(Date.UTC(2025, 0, 1) / 1000); // Date.UTC(2024, 11, 31) / 1000
   */
  previous(start: number): number {
    const [s] = this.#period(start);
    // Boundaries are whole seconds, so the last second before this period's start is in the previous one.
    return this.#period(s / SECOND_MS - 1)[0] / SECOND_MS;
  }

  /**
   * The boundaries a store needs for time `t`: `[start(previous), start(current), start(next),
   * start(next + 1)]`, ascending — three periods, so the store can pick the current one by its own
   * clock when it differs a little from the engine's.
   *
   * On the hot path of every check, so cached: another `t` in the same period (or in one of the few
   * periods asked for last) costs two comparisons each and returns the same frozen array.
   *
   * @throws {RangeError} as {@link Calendar.startOf}.
   * @example
   * new Calendar("day", "UTC", 1).boundariesAround(86_400 * 1.5); // [0, 86_400, 172_800, 259_200]
   */
  boundariesAround(t: number): readonly number[] {
    const cache = this.#cache;
    const last = cache[0];
    if (last !== undefined && t >= (last[1] as number) && t < (last[2] as number)) return last;
    for (let i = 1; i < cache.length; i++) {
      const b = cache[i] as readonly number[];
      if (t >= (b[1] as number) && t < (b[2] as number)) {
        cache.splice(i, 1);
        cache.unshift(b);
        return b;
      }
    }
    let answer: readonly number[];
    if (last !== undefined && t >= (last[2] as number) && t < (last[3] as number)) {
      // Time moved into the next period, the common miss: one new boundary.
      const b3 = last[3] as number;
      answer = Object.freeze([last[1] as number, last[2] as number, b3, this.#period(b3)[1] / SECOND_MS]);
    } else {
      const [start, end] = this.#period(t);
      const previous = this.#period(start / SECOND_MS - 1)[0];
      const afterNext = this.#period(end / SECOND_MS)[1];
      answer = Object.freeze([previous / SECOND_MS, start / SECOND_MS, end / SECOND_MS, afterNext / SECOND_MS]);
    }
    cache.unshift(answer);
    if (cache.length > CACHED_PERIODS) cache.pop();
    return answer;
  }

  /** `[start, end)` in ms of the period holding `t` (seconds). */
  #period(t: number): [number, number] {
    if (!Number.isFinite(t) || Math.abs(t) > MAX_SECONDS) {
      throw new RangeError(`Calendar time ${String(t)} is not a finite number of seconds within ±${MAX_SECONDS}`);
    }
    // Boundaries are whole seconds, so the second holding `t` is in the same period as `t`, and its
    // start in ms is an exact integer (no rounding of t * 1000 across a boundary).
    const u = Math.floor(t) * SECOND_MS;
    const f = this.#format;
    let first = this.#firstDay(Math.floor(wallMs(f, u) / DAY_MS) * DAY_MS);
    let start = firstInstantAtOrAfter(f, first);
    // The local date normally names the period, but not in a repeated stretch: after a fall-back
    // from 00:30 to 23:30 the wall clock shows yesterday again, yet the first midnight has already
    // begun today's period. Periods are spans between first midnights, so step until one holds u.
    while (start > u) {
      first = this.#add(first, -1);
      start = firstInstantAtOrAfter(f, first);
    }
    let end = firstInstantAtOrAfter(f, this.#add(first, 1));
    while (end <= u) {
      // Also steps over a period with no instants (a skipped date, as Pacific/Apia's 2011-12-30).
      first = this.#add(first, 1);
      start = end;
      end = firstInstantAtOrAfter(f, this.#add(first, 1));
    }
    return [start, end];
  }

  /** The first local date (as a UTC midnight, ms) of the period holding local date `day`. */
  #firstDay(day: number): number {
    switch (this.unit) {
      case "day":
        return day;
      case "week": {
        // 1970-01-01, day 0, was a Thursday (weekday 4).
        const weekday = mod(day / DAY_MS + 4, 7);
        return day - mod(weekday - this.weekStartsOn, 7) * DAY_MS;
      }
      case "month": {
        const d = new Date(day);
        return utcMs(d.getUTCFullYear(), d.getUTCMonth(), 1);
      }
      case "year":
        return utcMs(new Date(day).getUTCFullYear(), 0, 1);
    }
  }

  /** The first local date `n` periods after the period whose first date is `first`. */
  #add(first: number, n: number): number {
    switch (this.unit) {
      case "day":
        return first + n * DAY_MS;
      case "week":
        return first + 7 * n * DAY_MS;
      case "month": {
        const d = new Date(first);
        return utcMs(d.getUTCFullYear(), d.getUTCMonth() + n, 1);
      }
      case "year":
        return utcMs(new Date(first).getUTCFullYear() + n, 0, 1);
    }
  }
}
