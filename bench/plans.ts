/**
 * The plan every "three limits beside one" measurement charges, so that the memory, Redis, SQLite
 * and PostgreSQL figures are of the same budget: a burst cap, a day, and a calendar month.
 */
import { Budget } from "../src/index.js";

/** A budget of three limits, each of `maxSpend`: 60 s, 86,400 s, and the calendar month in New York. */
export function threeLimitPlan(maxSpend: string): Budget {
  return new Budget({
    limits: [
      { maxSpend, window: 60 },
      { maxSpend, window: 86_400 },
      { maxSpend, window: { calendar: "month", timeZone: "America/New_York" } },
    ],
  });
}
