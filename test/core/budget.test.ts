/**
 * Budgets of several limits, their JSON form, and the typed errors of everything they refuse.
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import {
  Budget,
  Engine,
  InvalidBudgetError,
  Ledger,
  Limit,
  MAX_LIMITS,
  Mode,
  StoreErrorMode,
} from "../../src/index.js";
import { validateDecision } from "../support/decision-schema.js";

/** The budget schema as users load it: `budgetgate/budget.schema.json`. */
const validateBudget = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: true }).compile(
  JSON.parse(readFileSync(createRequire(import.meta.url).resolve("budgetgate/budget.schema.json"), "utf8")),
);

const plan = {
  limits: [
    { maxSpend: "1", window: 60, alerts: [0.5, 0.8, 1] },
    { maxSpend: "10", window: 86_400 },
    { maxSpend: "100.00", window: { calendar: "month", timeZone: "America/New_York" } },
    { maxSpend: "20", window: { calendar: "week", weekStartsOn: 0 }, shadow: true },
    { maxSpend: "500", window: null },
  ],
  mode: Mode.SOFT,
  onStoreError: StoreErrorMode.FAIL_OPEN,
} as const;

describe("Budget", () => {
  it("takes several limits, each with its own window, and names each window", () => {
    const budget = new Budget(plan);
    expect(budget.limits.map((limit) => limit.windowId)).toEqual([
      "r:60",
      "r:86400",
      "c:month:America/New_York",
      "c:week:UTC:0",
      "life",
    ]);
    expect(budget.limits.map((limit) => limit.shadow)).toEqual([false, false, false, true, false]);
    expect(budget.maxSpend.toString()).toBe("1");
    expect(budget.window).toBe(60);
  });

  it("keeps the one-limit form, with the defaults it always had", () => {
    const budget = new Budget({ maxSpend: "5" });
    expect(budget.limits).toHaveLength(1);
    expect(budget.window).toBe(3600);
    expect([budget.mode, budget.onStoreError]).toEqual([Mode.HARD, StoreErrorMode.FAIL_CLOSED]);
  });

  it("writes itself as JSON and reads the JSON back into an equal budget", () => {
    const budget = new Budget(plan);
    const json = JSON.parse(JSON.stringify(budget));
    expect(json).toEqual({
      limits: [
        { maxSpend: "1", window: 60, alerts: [0.5, 0.8, 1] },
        { maxSpend: "10", window: 86_400 },
        { maxSpend: "100.00", window: { calendar: "month", timeZone: "America/New_York" } },
        { maxSpend: "20", window: { calendar: "week", timeZone: "UTC", weekStartsOn: 0 }, shadow: true },
        { maxSpend: "500", window: null },
      ],
      mode: "SOFT",
      onStoreError: "FAIL_OPEN",
    });
    expect(validateBudget(json)).toBe(true);
    const back = Budget.fromJSON(json);
    expect(back.toJSON()).toEqual(budget.toJSON());
    expect(Budget.fromJSON({ maxSpend: "3", window: null }).toJSON()).toEqual({
      limits: [{ maxSpend: "3", window: null }],
      mode: "HARD",
      onStoreError: "FAIL_CLOSED",
    });
  });

  it("keeps a time zone as written in the window id, the same on every runtime", () => {
    // V8 and Deno resolve Asia/Kolkata to Asia/Calcutta and Etc/UTC to UTC; Bun keeps both. An id
    // built from what Intl answers would split one calendar's spend between Node and Bun processes.
    const day = { maxSpend: 1, window: { calendar: "day", timeZone: "Asia/Kolkata" } } as const;
    expect(new Limit(day).windowId).toBe("c:day:Asia/Kolkata");
    expect(new Limit({ maxSpend: 1, window: { calendar: "week", timeZone: "Etc/UTC" } }).windowId).toBe(
      "c:week:Etc/UTC:1",
    );
    expect(new Limit({ maxSpend: 1, window: { calendar: "month" } }).windowId).toBe("c:month:UTC");
    expect(Budget.fromJSON(JSON.parse(JSON.stringify(new Budget({ limits: [day] })))).limits[0]?.windowId).toBe(
      "c:day:Asia/Kolkata",
    );
  });

  const refusals: [string, unknown, string][] = [
    ["an empty limits", { limits: [] }, "expected an array of 1 to 16 limits"],
    ["too many limits", { limits: Array.from({ length: MAX_LIMITS + 1 }, () => ({ maxSpend: 1 })) }, "1 to 16"],
    ["both forms", { maxSpend: 1, limits: [{ maxSpend: 1 }] }, "either limits or maxSpend"],
    ["an unknown time zone", { maxSpend: 1, window: { calendar: "day", timeZone: "Mars/Olympus" } }, "Mars/Olympus"],
    ["an unknown calendar unit", { maxSpend: 1, window: { calendar: "fortnight" } }, '"fortnight"'],
    ["a week start out of range", { maxSpend: 1, window: { calendar: "week", weekStartsOn: 7 } }, "0 (Sunday) to 6"],
    [
      "a week start on a month",
      { maxSpend: 1, window: { calendar: "month", weekStartsOn: 1 } },
      "weekStartsOn applies",
    ],
    ["a level of 0", { maxSpend: 1, alerts: [0] }, "alert level 0"],
    ["a level above 1", { maxSpend: 1, alerts: [1.5] }, "alert level 1.5"],
    ["a level that is not a number", { maxSpend: 1, alerts: ["0.5"] }, 'alert level "0.5"'],
    ["a level listed twice", { maxSpend: 1, alerts: [0.5, 0.5] }, "listed twice"],
    ["alerts that are not a list", { maxSpend: 1, alerts: 0.5 }, "expected an array"],
    ["an unknown budget option", { maxSpend: 1, windows: 60 }, 'unknown option "windows"'],
    ["an unknown limit option", { limits: [{ maxSpend: 1, max: 2 }] }, 'budget limits[0]: unknown option "max"'],
    ["an unknown calendar option", { maxSpend: 1, window: { calendar: "day", tz: "UTC" } }, 'unknown option "tz"'],
    [
      "a bad amount in the second limit",
      { limits: [{ maxSpend: 1 }, { maxSpend: "-1" }] },
      "budget limits[1] maxSpend",
    ],
    ["a shadow flag that is not a boolean", { limits: [{ maxSpend: 1, shadow: "yes" }] }, "shadow"],
    ["an unknown mode", { maxSpend: 1, mode: "DRY_RUN" }, '"HARD", "SOFT" or "SHADOW"'],
    ["a window as a string", { maxSpend: 1, window: "1h" }, 'window "1h"'],
  ];
  for (const [what, options, message] of refusals) {
    it(`refuses ${what} with an InvalidBudgetError naming it, from the constructor and from JSON`, () => {
      expect(() => new Budget(options as never)).toThrow(InvalidBudgetError);
      expect(() => new Budget(options as never)).toThrow(message);
      expect(() => Budget.fromJSON(options)).toThrow(message);
      // The schema refuses the same, except what only a runtime can know (its time zones).
      if (what !== "an unknown time zone") expect(validateBudget(options)).toBe(false);
    });
  }
});

describe("decisions of several limits", () => {
  it("serialise a shadow limit's would-be block as a valid record: an ALLOW with its reason", async () => {
    let t = 1_000;
    const engine = new Engine({ clock: () => t });
    const ledger = new Ledger("budget", "shadow");
    const budget = new Budget({ maxSpend: "1", window: 60, mode: Mode.SHADOW });
    await engine.check(ledger, "0.75", budget);
    t += 1;
    const decision = await engine.check(ledger, "0.75", budget);
    const record = decision.toJSON();
    expect(record).toMatchObject({
      status: "ALLOW",
      reason: "BUDGET_EXCEEDED",
      message: "Shadow limit exceeded, not enforced: 0.75 + 0.75 > 1",
      spent_in_window: "1.50",
      remaining: "0.00",
    });
    expect(validateDecision(record)).toBe(true);
    expect(decision.wouldBlock).toBe(true);
    expect(decision.resetsAt).toBe(1_060);
  });

  it("serialise a block by one of several limits as the record of that limit", async () => {
    const engine = new Engine({ clock: () => 5_000 });
    const ledger = new Ledger("budget", "several");
    const budget = new Budget({
      limits: [
        { maxSpend: "10", window: 3600 },
        { maxSpend: "1", window: 60 },
      ],
    });
    const decision = await engine.check(ledger, "1.5", budget);
    expect(decision.toJSON()).toMatchObject({
      status: "BLOCK",
      reason: "BUDGET_EXCEEDED",
      message: "Budget exceeded: 0.0 + 1.5 > 1 (60 s limit)",
      spent_in_window: "0.0",
      remaining: "1.0",
    });
    expect(validateDecision(decision.toJSON())).toBe(true);
    expect(decision.resetsAt).toBeNull(); // more than the limit: it never fits
  });
});

describe("Budget.storeLimits with a calendar limit", () => {
  const budget = new Budget({
    limits: [
      { maxSpend: "1", window: 60 },
      { maxSpend: "100", window: { calendar: "day", timeZone: "UTC" } },
    ],
  });
  const day = 86_400;

  it("answers one array while the time stays in the period, so that a store can keep what it derives from it", () => {
    const first = budget.storeLimits(day * 20_000 + 10);
    expect(budget.storeLimits(day * 20_000 + 50_000)).toBe(first);
    const window = first[1]?.window;
    expect(window?.kind === "calendar" && window.boundaries.includes(day * 20_000)).toBe(true);
  });

  it("answers the next period's boundaries once the time is in it", () => {
    const before = budget.storeLimits(day * 30_000 + 10);
    const after = budget.storeLimits(day * 30_001 + 10);
    expect(after).not.toBe(before);
    const window = after[1]?.window;
    expect(window?.kind === "calendar" && window.boundaries.includes(day * 30_001)).toBe(true);
    expect(after[0]).toEqual(before[0]);
    expect(budget.storeLimits(day * 30_000 + 20)[1]?.window).toEqual(before[1]?.window);
  });
});
