/**
 * Calendar arithmetic: period starts in zones with odd offsets, DST days of 23, 23.5, 24.5 and 25
 * hours, midnights skipped or repeated by DST. Expected instants are written as Date.UTC of the
 * local midnight shifted by the zone's offset, from the zone's published rules, not from the code.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CALENDAR_UNITS, Calendar, type CalendarUnit, checkedTimeZone } from "../../src/calendar.js";
import { InvalidBudgetError } from "../../src/errors.js";

const H = 3600;
const DAY = 86_400;

/** Seconds since the epoch of a UTC date-time (month 1-based, unlike Date.UTC). */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
}

/** Seconds of a local wall time in a zone whose offset there is `offsetHours` (e.g. -5, 5.75). */
function local(offsetHours: number, year: number, month: number, day: number, hour = 0, minute = 0): number {
  return utc(year, month, day, hour, minute) - offsetHours * H;
}

// The test's own reading of a zone's wall clock, independent of src/calendar.ts's parser.
const readers = new Map<string, Intl.DateTimeFormat>();
function wall(zone: string, seconds: number): { date: string; time: string; weekday: number; day: number } {
  let f = readers.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    });
    readers.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(Math.round(seconds * 1000)).map((x) => [x.type, x.value]));
  const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  return {
    date: `${p.year}-${p.month}-${p.day}`,
    time: `${p.hour}:${p.minute}:${p.second}`,
    weekday: weekdays.indexOf(p.weekday as string),
    day: Number(p.day),
  };
}

function cal(unit: CalendarUnit, zone = "UTC", weekStartsOn = 1): Calendar {
  return new Calendar(unit, checkedTimeZone(zone), weekStartsOn);
}

/** startOf, next and previous of the period holding `t`, checked for consistency on the way. */
function period(c: Calendar, t: number): { start: number; end: number; previous: number } {
  const start = c.startOf(t);
  const end = c.next(start);
  expect(c.next(t)).toBe(end);
  expect(c.startOf(start)).toBe(start);
  expect(c.previous(end)).toBe(start);
  return { start, end, previous: c.previous(start) };
}

describe("calendar: UTC", () => {
  const t = utc(2026, 12, 3, 15, 4, 5); // a Thursday

  it("starts days, months and years at UTC midnight", () => {
    expect(period(cal("day"), t)).toEqual({
      start: utc(2026, 12, 3),
      end: utc(2026, 12, 4),
      previous: utc(2026, 12, 2),
    });
    expect(period(cal("month"), t)).toEqual({
      start: utc(2026, 12, 1),
      end: utc(2027, 1, 1), // December → January
      previous: utc(2026, 11, 1),
    });
    expect(period(cal("year"), t)).toEqual({
      start: utc(2026, 1, 1),
      end: utc(2027, 1, 1),
      previous: utc(2025, 1, 1),
    });
  });

  it("starts weeks on the weekday asked for", () => {
    expect(period(cal("week", "UTC", 1), t)).toEqual({
      start: utc(2026, 11, 30), // Monday
      end: utc(2026, 12, 7),
      previous: utc(2026, 11, 23),
    });
    expect(period(cal("week", "UTC", 0), t).start).toBe(utc(2026, 11, 29)); // Sunday
    expect(period(cal("week", "UTC", 6), t).start).toBe(utc(2026, 11, 28)); // Saturday
    expect(period(cal("week", "UTC", 4), t).start).toBe(utc(2026, 12, 3)); // Thursday: today
    expect(period(cal("week", "UTC", 5), t).start).toBe(utc(2026, 11, 27)); // Friday: 6 days back
    // A week across a year end.
    expect(period(cal("week", "UTC", 1), utc(2027, 1, 1, 12))).toEqual({
      start: utc(2026, 12, 28),
      end: utc(2027, 1, 4),
      previous: utc(2026, 12, 21),
    });
  });

  it("counts leap days: Feb 29, 366-day years, 1900 and 2100 not leap, 2000 leap", () => {
    expect(period(cal("day"), utc(2024, 2, 29, 23, 59, 59))).toEqual({
      start: utc(2024, 2, 29),
      end: utc(2024, 3, 1),
      previous: utc(2024, 2, 28),
    });
    const months = cal("month");
    expect(months.next(utc(2024, 2, 1)) - utc(2024, 2, 1)).toBe(29 * DAY);
    expect(months.next(utc(2023, 2, 1)) - utc(2023, 2, 1)).toBe(28 * DAY);
    expect(months.next(utc(2000, 2, 1)) - utc(2000, 2, 1)).toBe(29 * DAY);
    expect(months.next(utc(2100, 2, 1)) - utc(2100, 2, 1)).toBe(28 * DAY);
    expect(months.next(utc(1900, 2, 1)) - utc(1900, 2, 1)).toBe(28 * DAY);
    const years = cal("year");
    expect(years.next(utc(2024, 1, 1)) - utc(2024, 1, 1)).toBe(366 * DAY);
    expect(years.next(utc(2025, 1, 1)) - utc(2025, 1, 1)).toBe(365 * DAY);
  });

  it("puts an instant exactly at a boundary in the new period, one millisecond before in the old", () => {
    for (const unit of CALENDAR_UNITS) {
      const c = cal(unit);
      const boundary = c.next(t);
      expect(c.startOf(boundary)).toBe(boundary);
      expect(c.startOf(boundary - 0.001)).toBe(c.startOf(t));
      expect(c.startOf(boundary - 0.001)).toBeLessThan(boundary);
    }
  });

  it("handles negative and far instants: 1900, 2200, before the epoch, fractions", () => {
    expect(period(cal("month"), utc(1900, 2, 28, 12))).toEqual({
      start: utc(1900, 2, 1),
      end: utc(1900, 3, 1),
      previous: utc(1900, 1, 1),
    });
    expect(utc(1900, 2, 1)).toBeLessThan(0);
    expect(period(cal("year"), utc(2200, 6, 15))).toEqual({
      start: utc(2200, 1, 1),
      end: utc(2201, 1, 1),
      previous: utc(2199, 1, 1),
    });
    const days = cal("day");
    for (const x of [-0.5, -1, -DAY, -DAY - 0.25, 0, 0.999, DAY - 0.001, -1e11 - 0.5, 1e11 + 0.5, 8e12]) {
      expect(days.startOf(x)).toBe(Math.floor(x / DAY) * DAY);
    }
    // Year 1 and 1 BC (year 0 of the proleptic Gregorian calendar): Date.UTC's 0–99 quirk is not hit.
    const y1 = Date.UTC(2001, 0, 1) / 1000 - 2000 * 365.2425 * DAY;
    expect(cal("year").startOf(y1 + 10 * DAY)).toBe(y1);
    expect(cal("year").previous(y1)).toBe(y1 - 366 * DAY); // year 0 is a leap year
    expect(cal("month").startOf(y1 - 1)).toBe(y1 - 31 * DAY);
  });

  it("refuses a non-finite or out-of-range instant with a RangeError", () => {
    const c = cal("day");
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 9e12, -9e12]) {
      expect(() => c.startOf(x)).toThrow(RangeError);
      expect(() => c.boundariesAround(x)).toThrow(RangeError);
    }
  });
});

describe("calendar: zones", () => {
  it("America/New_York: the 23-hour and 25-hour days of 2026", () => {
    const days = cal("day", "America/New_York");
    const spring = period(days, utc(2026, 3, 8, 12));
    expect(spring).toEqual({
      start: local(-5, 2026, 3, 8),
      end: local(-4, 2026, 3, 9),
      previous: local(-5, 2026, 3, 7),
    });
    expect(spring.end - spring.start).toBe(82_800);
    const fall = period(days, utc(2026, 11, 1, 12));
    expect(fall).toEqual({
      start: local(-4, 2026, 11, 1),
      end: local(-5, 2026, 11, 2),
      previous: local(-4, 2026, 10, 31),
    });
    expect(fall.end - fall.start).toBe(90_000);
    // The repeated hour (01:00–02:00, twice) is inside the day either time.
    expect(days.startOf(utc(2026, 11, 1, 6, 30))).toBe(fall.start);
    // Months and years start at local midnight, whatever the offset then.
    expect(period(cal("month", "America/New_York"), utc(2026, 7, 1, 3, 59, 59))).toEqual({
      start: local(-4, 2026, 6, 1),
      end: local(-4, 2026, 7, 1),
      previous: local(-4, 2026, 5, 1),
    });
    expect(period(cal("year", "America/New_York"), utc(2027, 1, 1, 4, 59, 59)).start).toBe(local(-5, 2026, 1, 1));
    expect(cal("year", "America/New_York").startOf(utc(2027, 1, 1, 5))).toBe(local(-5, 2027, 1, 1));
    // 1900 (EST, no DST before 1918) and 2200 (today's rules, continued).
    expect(period(days, utc(1900, 1, 1, 12)).start).toBe(local(-5, 1900, 1, 1));
    expect(period(days, utc(2200, 7, 4, 12))).toEqual({
      start: local(-4, 2200, 7, 4),
      end: local(-4, 2200, 7, 5),
      previous: local(-4, 2200, 7, 3),
    });
  });

  it("Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45)", () => {
    const kolkata = cal("day", "Asia/Kolkata");
    expect(period(kolkata, utc(2026, 12, 3, 12))).toEqual({
      start: local(5.5, 2026, 12, 3),
      end: local(5.5, 2026, 12, 4),
      previous: local(5.5, 2026, 12, 2),
    });
    const boundary = local(5.5, 2026, 12, 3);
    expect(boundary).toBe(utc(2026, 12, 2, 18, 30));
    expect(kolkata.startOf(boundary - 0.001)).toBe(local(5.5, 2026, 12, 2));
    expect(period(cal("month", "Asia/Kolkata"), utc(2026, 12, 31, 18, 29, 59)).end).toBe(local(5.5, 2027, 1, 1));
    expect(cal("month", "Asia/Kolkata").startOf(utc(2026, 12, 31, 18, 30))).toBe(local(5.5, 2027, 1, 1));
    expect(period(cal("day", "Asia/Kathmandu"), utc(2026, 12, 3, 12))).toEqual({
      start: utc(2026, 12, 2, 18, 15),
      end: utc(2026, 12, 3, 18, 15),
      previous: utc(2026, 12, 1, 18, 15),
    });
    expect(period(cal("week", "Asia/Kathmandu", 1), utc(2026, 12, 3, 12)).start).toBe(local(5.75, 2026, 11, 30));
  });

  it("Pacific/Chatham: +12:45, +13:45 in summer, a 23-hour day in September", () => {
    const days = cal("day", "Pacific/Chatham");
    expect(period(days, utc(2026, 6, 15)).start).toBe(local(12.75, 2026, 6, 15));
    expect(period(days, utc(2026, 12, 3)).start).toBe(local(13.75, 2026, 12, 3));
    // DST starts on the last Sunday of September, 2026-09-27, at 02:45 standard time.
    const spring = period(days, local(12.75, 2026, 9, 27, 12));
    expect(spring).toEqual({
      start: local(12.75, 2026, 9, 27),
      end: local(13.75, 2026, 9, 28),
      previous: local(12.75, 2026, 9, 26),
    });
    expect(spring.end - spring.start).toBe(23 * H);
    expect(period(cal("year", "Pacific/Chatham"), utc(2026, 6, 1)).start).toBe(local(13.75, 2026, 1, 1));
  });

  it("Australia/Lord_Howe: 30-minute DST, days of 23.5 and 24.5 hours", () => {
    const days = cal("day", "Australia/Lord_Howe");
    // DST ends on the first Sunday of April (2026-04-05, 02:00 → 01:30) and starts on the first
    // Sunday of October (2026-10-04, 02:00 → 02:30); standard time is +10:30, DST +11.
    const fall = period(days, local(11, 2026, 4, 5, 12));
    expect(fall).toEqual({
      start: local(11, 2026, 4, 5),
      end: local(10.5, 2026, 4, 6),
      previous: local(11, 2026, 4, 4),
    });
    expect(fall.end - fall.start).toBe(88_200);
    const spring = period(days, local(11, 2026, 10, 4, 12));
    expect(spring).toEqual({
      start: local(10.5, 2026, 10, 4),
      end: local(11, 2026, 10, 5),
      previous: local(10.5, 2026, 10, 3),
    });
    expect(spring.end - spring.start).toBe(84_600);
  });

  it("America/Santiago: a spring-forward at midnight starts the day at 01:00", () => {
    // Chile's DST starts on the first Sunday on or after 2 September at 04:00 UTC (local 24:00 of
    // Saturday, which becomes 01:00 Sunday): 2026-09-06. Standard time -04, DST -03.
    const days = cal("day", "America/Santiago");
    const gap = period(days, utc(2026, 9, 6, 12));
    expect(gap).toEqual({
      start: utc(2026, 9, 6, 4),
      end: local(-3, 2026, 9, 7),
      previous: local(-4, 2026, 9, 5),
    });
    expect(gap.end - gap.start).toBe(23 * H);
    expect(wall("America/Santiago", gap.start)).toMatchObject({ date: "2026-09-06", time: "01:00:00" });
    expect(wall("America/Santiago", gap.start - 0.001)).toMatchObject({ date: "2026-09-05", time: "23:59:59" });
    // The week (Sunday start) and the month that contain it.
    expect(period(cal("week", "America/Santiago", 0), utc(2026, 9, 8)).start).toBe(utc(2026, 9, 6, 4));
    // DST ends on the first Sunday on or after 2 April at 03:00 UTC (24:00 → 23:00 Saturday): the
    // Saturday has 25 hours, and its repeated last hour is still Saturday.
    const fall = period(days, utc(2026, 4, 4, 12));
    expect(fall).toEqual({ start: local(-3, 2026, 4, 4), end: local(-4, 2026, 4, 5), previous: local(-3, 2026, 4, 3) });
    expect(fall.end - fall.start).toBe(25 * H);
    expect(days.startOf(utc(2026, 4, 5, 3, 30))).toBe(fall.start);
  });

  it("America/Havana: a fall-back that repeats midnight starts the day at the first one", () => {
    // Cuba's DST ends on the first Sunday of November at 01:00 DST, which becomes 00:00: midnight
    // happens at 04:00 UTC (-04) and again at 05:00 UTC (-05). 2026-11-01.
    const days = cal("day", "America/Havana");
    const fall = period(days, utc(2026, 11, 1, 12));
    expect(fall).toEqual({
      start: local(-4, 2026, 11, 1),
      end: local(-5, 2026, 11, 2),
      previous: local(-4, 2026, 10, 31),
    });
    expect(fall.end - fall.start).toBe(25 * H);
    expect(wall("America/Havana", fall.start + H)).toMatchObject({ date: "2026-11-01", time: "00:00:00" });
    expect(days.startOf(utc(2026, 11, 1, 5, 30))).toBe(fall.start); // the second 00:30
    expect(days.startOf(utc(2026, 11, 1, 3, 59, 59))).toBe(local(-4, 2026, 10, 31));
    // DST starts on the second Sunday of March at 00:00 standard time, which becomes 01:00: the day
    // starts at 01:00 (05:00 UTC), a gap at midnight. 2026-03-08.
    const spring = period(days, utc(2026, 3, 8, 12));
    expect(spring).toEqual({ start: utc(2026, 3, 8, 5), end: local(-4, 2026, 3, 9), previous: local(-5, 2026, 3, 7) });
    expect(spring.end - spring.start).toBe(23 * H);
    expect(wall("America/Havana", spring.start).time).toBe("01:00:00");
  });

  it("America/Sao_Paulo before 2019: DST started at midnight", () => {
    // 2018-11-04 00:00 -03 became 01:00 -02.
    const gap = period(cal("day", "America/Sao_Paulo"), utc(2018, 11, 4, 12));
    expect(gap).toEqual({ start: utc(2018, 11, 4, 3), end: local(-2, 2018, 11, 5), previous: local(-3, 2018, 11, 3) });
    expect(gap.end - gap.start).toBe(23 * H);
    // And the month that began on that day starts at 01:00.
    expect(cal("month", "America/Sao_Paulo").startOf(utc(2018, 11, 20))).toBe(local(-3, 2018, 11, 1));
  });

  it("Pacific/Apia skipped 2011-12-30: no empty period, the next day follows the 29th", () => {
    const days = cal("day", "Pacific/Apia");
    // Thursday the 29th was at -10 (DST); Saturday the 31st began at +14, the same instant.
    const p = period(days, local(-10, 2011, 12, 29, 12));
    expect(p).toEqual({
      start: local(-10, 2011, 12, 29),
      end: local(14, 2011, 12, 31),
      previous: local(-10, 2011, 12, 28),
    });
    expect(p.end - p.start).toBe(DAY);
    expect(days.next(p.end)).toBe(local(14, 2012, 1, 1));
  });
});

describe("calendar: boundariesAround", () => {
  it("gives previous, current, next and the one after, ascending", () => {
    const days = cal("day", "America/New_York");
    expect(days.boundariesAround(utc(2026, 3, 8, 12))).toEqual([
      local(-5, 2026, 3, 7),
      local(-5, 2026, 3, 8),
      local(-4, 2026, 3, 9),
      local(-4, 2026, 3, 10),
    ]);
    for (const unit of CALENDAR_UNITS) {
      for (const t of [utc(2026, 12, 3), utc(2027, 1, 1) - 0.001, utc(1900, 1, 1), utc(2200, 12, 31)]) {
        const b = cal(unit, "Asia/Kolkata").boundariesAround(t);
        expect(b).toHaveLength(4);
        expect((b[0] as number) < (b[1] as number) && (b[1] as number) <= t).toBe(true);
        expect(t < (b[2] as number) && (b[2] as number) < (b[3] as number)).toBe(true);
      }
    }
  });

  it("returns the same frozen array for two instants of one period", () => {
    const c = cal("month", "Europe/London");
    const a = c.boundariesAround(utc(2026, 12, 3, 12));
    expect(c.boundariesAround(utc(2026, 12, 31, 23, 59, 59))).toBe(a);
    expect(c.boundariesAround(utc(2026, 12, 1))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    // The next period: a new answer, shifted by one; then both stay cached as time alternates.
    const b = c.boundariesAround(utc(2027, 1, 1));
    expect(b).toEqual([...a.slice(1), utc(2027, 3, 1)]);
    expect(c.boundariesAround(utc(2026, 12, 20))).toBe(a);
    expect(c.boundariesAround(utc(2027, 1, 20))).toBe(b);
    // A jump far away is computed afresh, and correct.
    expect(c.boundariesAround(utc(2026, 7, 4))).toEqual([
      utc(2026, 5, 31, 23), // BST: London's midnight is 23:00 UTC
      utc(2026, 6, 30, 23),
      utc(2026, 7, 31, 23),
      utc(2026, 8, 31, 23),
    ]);
  });
});

describe("calendar: configuration", () => {
  it("checkedTimeZone keeps a known zone's name as written, whatever Intl resolves it to", () => {
    for (const zone of ["utc", "UTC", "Etc/UTC", "Asia/Kolkata", "Asia/Calcutta", "US/Eastern", "europe/london"]) {
      expect(checkedTimeZone(zone)).toBe(zone);
    }
  });

  it("two spellings of one zone have the same boundaries", () => {
    const t = utc(2026, 11, 1, 20);
    for (const [a, b] of [
      ["Asia/Kolkata", "Asia/Calcutta"],
      ["US/Eastern", "America/New_York"],
      ["europe/london", "Europe/London"],
    ] as const) {
      expect(new Calendar("day", a).boundariesAround(t)).toEqual(new Calendar("day", b).boundariesAround(t));
    }
  });

  it("checkedTimeZone refuses what is not a zone name, with InvalidBudgetError", () => {
    for (const zone of ["Mars/Olympus", "", "+05:30", "-03:00", 42, undefined, null, {}]) {
      let caught: unknown;
      try {
        checkedTimeZone(zone as string);
      } catch (error) {
        caught = error;
      }
      expect(InvalidBudgetError.isInstance(caught)).toBe(true);
      expect((caught as Error).message).toContain("America/New_York");
      if (typeof zone === "string" && zone !== "") expect((caught as Error).message).toContain(zone);
    }
  });

  it("Calendar refuses an unknown unit, zone or weekStartsOn", () => {
    for (const make of [
      () => new Calendar("hour" as CalendarUnit, "UTC", 1),
      () => new Calendar("day", "Mars/Olympus", 1),
      () => new Calendar("week", "UTC", 7),
      () => new Calendar("week", "UTC", -1),
      () => new Calendar("week", "UTC", 1.5),
    ]) {
      expect(make).toThrow(InvalidBudgetError);
    }
    const c = new Calendar("week", "UTC", 0);
    expect([c.unit, c.timeZone, c.weekStartsOn]).toEqual(["week", "UTC", 0]);
    expect(new Calendar("day", "UTC").weekStartsOn).toBe(1);
  });
});

describe("calendar: properties", () => {
  const zones = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "America/Santiago",
    "America/Havana",
    "America/Sao_Paulo",
    "Asia/Beirut",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Apia",
    "Pacific/Kiritimati",
  ];
  const calendars = new Map<string, Calendar>();
  const get = (unit: CalendarUnit, zone: string, w: number): Calendar => {
    const key = `${unit} ${zone} ${w}`;
    let c = calendars.get(key);
    if (c === undefined) {
      c = new Calendar(unit, zone, w);
      calendars.set(key, c);
    }
    return c;
  };
  const dayNumber = (date: string): number => {
    const [y, m, d] = date.split("-").map(Number) as [number, number, number];
    return Date.UTC(y, m - 1, d) / 86_400_000;
  };

  const wallSeconds = (x: { date: string; time: string }): number => {
    const [h, m, sec] = x.time.split(":").map(Number) as [number, number, number];
    return dayNumber(x.date) * 86_400 + h * 3600 + m * 60 + sec;
  };

  it("every instant from 1970 to 2100 is in exactly one period, which starts at a first instant of a local date", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) - 1 }),
        fc.constantFrom(...zones),
        fc.constantFrom(...CALENDAR_UNITS),
        fc.integer({ min: 0, max: 6 }),
        (ms, zone, unit, w) => {
          const t = ms / 1000;
          const c = get(unit, zone, w);
          const s = c.startOf(t);
          const n = c.next(s);
          expect(s).toBeLessThanOrEqual(t);
          expect(t).toBeLessThan(n);
          expect(Number.isInteger(s) && Number.isInteger(n)).toBe(true);
          expect(c.startOf(s)).toBe(s);
          expect(c.startOf(n - 0.001)).toBe(s);
          expect(c.previous(n)).toBe(s);
          expect(c.next(c.previous(s))).toBe(s);
          const b = c.boundariesAround(t);
          expect(b).toEqual([c.previous(s), s, n, c.next(n)]);
          // The first instant of its local date: the millisecond before is on an earlier date,
          // and the wall clock reads midnight unless a gap skipped it.
          const at = wall(zone, s);
          const before = wall(zone, s - 0.001);
          const skipped = dayNumber(at.date) - dayNumber(before.date);
          expect(skipped).toBeGreaterThanOrEqual(1);
          if (at.time !== "00:00:00") expect(wallSeconds(at) - wallSeconds(before)).toBeGreaterThan(1);
          // On the period's first date (unless that date was skipped altogether).
          if (skipped === 1) {
            if (unit === "week") expect(at.weekday).toBe(w);
            if (unit === "month" || unit === "year") expect(at.day).toBe(1);
            if (unit === "year") expect(at.date.slice(5, 7)).toBe("01");
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
