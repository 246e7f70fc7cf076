/**
 * The differential property test every shared store runs: random sequences of check / reserve /
 * commit / release / spent / clear calls and clock moves go to an engine on the store under test
 * and to an engine on the memory store (the reference), one call at a time, on the same clock.
 * Every answer must be identical: decisions in full, settlements (late or not, amount recorded, or
 * the error thrown), and after every step the spend of every ledger.
 *
 * What a run varies: one to three of three ledgers per call, in any order, each with a budget of
 * its own, picked per call (one or several limits: windows of 5, 10, 20, 30 s, a lifetime, calendar
 * days in UTC and in Asia/Kolkata, shadow limits; so a ledger meets windows it was never charged
 * under, and limits come and go), reservation lifetimes and late-commit windows, amounts from zero to over the limit,
 * commits under, at and over the estimate, and clock moves from a millisecond to exact window
 * lengths and idle gaps of several windows — so holds expire, late commits land or are refused,
 * and long runs of spends expire together.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Amount, Budget, type Decision, Engine, Ledger, MemoryStore, type Reservation } from "../../src/index.js";
import type { Store } from "../../src/store.js";

const LEDGERS = 3;

/** Budgets every run shares; the run adds one of its own (index 0). */
const SHARED_BUDGETS = [
  new Budget({ maxSpend: "3", window: 5 }),
  new Budget({
    limits: [
      { maxSpend: "1.5", window: 5 },
      { maxSpend: "3", window: 20 },
    ],
  }),
  new Budget({ maxSpend: "2.5", window: null }),
  new Budget({
    limits: [
      { maxSpend: "4", window: 10 },
      { maxSpend: "6", window: { calendar: "day" } },
      { maxSpend: "1", window: 30, shadow: true },
    ],
  }),
  new Budget({
    limits: [
      { maxSpend: "2", window: { calendar: "day", timeZone: "Asia/Kolkata" } },
      { maxSpend: "5", window: null },
    ],
  }),
];
const BUDGETS = SHARED_BUDGETS.length + 1;

type Move = "seconds" | "window" | "tiny" | "step" | "idle";

type Op =
  | { kind: "check" | "reserve"; ledgers: number[]; budgets: number[]; cents: number }
  | { kind: "commit"; hold: number; actual: { percent: number } | { cents: number } }
  | { kind: "release"; hold: number }
  | { kind: "spent"; ledger: number; budget: number }
  | { kind: "clear"; ledger: number }
  | { kind: "advance"; by: Move; seconds: number; step: number };

const ledgerIndex = fc.integer({ min: 0, max: LEDGERS - 1 });
const budgetIndex = fc.integer({ min: 0, max: BUDGETS - 1 });

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom("check" as const, "reserve" as const),
      ledgers: fc.uniqueArray(ledgerIndex, { minLength: 1, maxLength: LEDGERS }),
      budgets: fc.array(budgetIndex, { minLength: LEDGERS, maxLength: LEDGERS }),
      cents: fc.integer({ min: 0, max: 150 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("commit" as const),
      hold: fc.nat(),
      actual: fc.oneof(fc.record({ percent: fc.nat(150) }), fc.record({ cents: fc.nat(60) })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), hold: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("spent" as const), ledger: ledgerIndex, budget: budgetIndex }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), ledger: ledgerIndex }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      by: fc.constantFrom<Move>("seconds", "window", "tiny", "step", "idle"),
      seconds: fc.constantFrom(0.25, 1, 3, 5, 8, 21),
      step: fc.integer({ min: 1, max: 40 }),
    }),
  },
);

/** One run's setting: its own budget, each ledger's budget, and the engines' hold lifetimes. */
const setting = fc.record({
  // Mostly the run's own budget, whose window the clock moves are measured in.
  ledgerBudgets: fc.array(fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: budgetIndex }), {
    minLength: LEDGERS,
    maxLength: LEDGERS,
  }),
  window: fc.constantFrom(null, 5, 30),
  maxCents: fc.integer({ min: 50, max: 400 }),
  lifetimes: fc.constantFrom({ reservationTtl: 6, lateCommitWindow: 15 }, { reservationTtl: 4, lateCommitWindow: 20 }),
});

/** Seconds a clock move adds, given the run's own window (30 s stands in for a lifetime budget). */
function seconds(o: Extract<Op, { kind: "advance" }>, window: number | null): number {
  const w = window ?? 30;
  return { seconds: o.seconds, window: w, tiny: 0.001, step: (w * o.step) / 100, idle: 3 * w + o.step }[o.by];
}

/** One side of the comparison: an engine and the reservations it granted, in order. */
interface Side {
  readonly engine: Engine;
  readonly holds: Reservation[];
}

/** Runs one call on one side and renders its answer, or the name of what it threw. */
async function answer(side: Side, o: Exclude<Op, { kind: "advance" }>, ledgers: Ledger[], budgets: Budgets) {
  const { engine, holds } = side;
  const render = (d: Decision) =>
    JSON.stringify({
      record: d.toJSON(),
      limits: d.perLedger.map((p) => p.limits.map((l) => [l.spent.toString(), l.blocked, l.resetsAt])),
      resetsAt: d.resetsAt,
    });
  try {
    switch (o.kind) {
      case "check":
      case "reserve": {
        const targets = o.ledgers.map((i) => ({
          ledger: ledgers[i] as Ledger,
          budget: budgets.of(i, o.budgets[i] as number),
        }));
        const amount = (o.cents / 100).toFixed(2);
        if (o.kind === "check") return render(await engine.check(targets, amount));
        const { reservation, decision } = await engine.reserve(targets, amount);
        if (reservation) holds.push(reservation);
        return render(decision);
      }
      case "commit":
      case "release": {
        // Both sides grant the same reservations (their decisions are compared), so an index names
        // the same hold on each.
        const hold = holds[o.hold % Math.max(1, holds.length)];
        if (hold === undefined) return "no hold";
        let settled: { late: boolean; recorded: Amount };
        if (o.kind === "release") settled = await engine.release(hold);
        else if ("percent" in o.actual) {
          settled = await engine.commit(
            hold,
            Amount.fromUnits((hold.estimate.units * BigInt(o.actual.percent)) / 100n, 2),
          );
        } else settled = await engine.commit(hold, (o.actual.cents / 100).toFixed(2));
        return `${o.kind} late=${settled.late} ${settled.recorded}`;
      }
      case "spent": {
        const usage = await engine.usage(ledgers[o.ledger] as Ledger, budgets.of(o.ledger, o.budget));
        return `spent ${usage.limits.map((l) => l.spent.toString()).join(" ")}`;
      }
      case "clear":
        await engine.clear(ledgers[o.ledger] as Ledger);
        return "cleared";
    }
  } catch (error) {
    return `threw ${(error as Error).name}`;
  }
}

/** The budget of ledger `ledger` in a call that picked budget `picked` for it. */
interface Budgets {
  of(ledger: number, picked: number): Budget;
}

/** What the store under test needs from its test file. */
export interface DifferentialSetup {
  /** The store under test, shared by every run (each run has ledgers of its own). */
  store(): Store;
  /** Runs of fast-check: sized so that the store's file stays within seconds. */
  numRuns: number;
  /** Most calls in one run. */
  maxOps?: number;
}

/** Registers the differential test of `name` against the memory store. */
export function describeDifferential(name: string, setup: DifferentialSetup): void {
  describe(`${name} against the memory store`, () => {
    it("gives the same decisions, settlements and spend to the same random calls", async () => {
      await fc.assert(
        fc.asyncProperty(setting, fc.array(op, { minLength: 10, maxLength: setup.maxOps ?? 60 }), async (run, ops) => {
          // A minute and a half before midnight UTC: calendar days roll over within most runs.
          const clock = { now: Date.UTC(2026, 2, 7, 23, 58, 30) / 1000 };
          const options = { ...run.lifetimes, clock: () => clock.now, storeTimeoutMs: 10_000 };
          const reference: Side = { engine: new Engine({ store: new MemoryStore(), ...options }), holds: [] };
          const tested: Side = { engine: new Engine({ store: setup.store(), ...options }), holds: [] };
          const ns = `m${randomUUID().replaceAll("-", "").slice(0, 10)}`;
          const ledgers = Array.from({ length: LEDGERS }, (_, i) => new Ledger(ns, "model", `p${i}`));
          const own = new Budget({ maxSpend: (run.maxCents / 100).toFixed(2), window: run.window });
          const all = [own, ...SHARED_BUDGETS];
          // Mostly the ledger's own budget of the run, sometimes the one the call picked.
          const pick = (ledger: number, picked: number) =>
            all[picked % 2 === 0 ? (run.ledgerBudgets[ledger] as number) : picked] as Budget;
          const budgets: Budgets = { of: pick };
          for (const o of ops) {
            if (o.kind === "advance") clock.now += seconds(o, run.window);
            else expect(await answer(tested, o, ledgers, budgets)).toBe(await answer(reference, o, ledgers, budgets));
            for (const [i, ledger] of ledgers.entries()) {
              const budget = pick(i, 0);
              const [a, b] = [await reference.engine.usage(ledger, budget), await tested.engine.usage(ledger, budget)];
              expect(b.limits.map((l) => l.spent.units)).toEqual(a.limits.map((l) => l.spent.units));
            }
          }
        }),
        { numRuns: setup.numRuns },
      );
    }, 120_000);
  });
}
