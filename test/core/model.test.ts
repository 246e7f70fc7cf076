/**
 * Property test: long random sequences of check / reserve / commit / release / clock advances on
 * random ledgers, run against the engine with its memory store and against a deliberately naive
 * model that keeps every spend forever and recomputes every limit from the full history each
 * time. Each ledger has a budget of one to three limits — rolling windows, a lifetime, calendar
 * days in two time zones and a week — some of them shadow limits, some with alert levels.
 * Decisions, each limit's spend, and the alerts heard must be identical, and with holds that never
 * expire no enforced limit may ever hold more than its budget.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Calendar } from "../../src/calendar.js";
import {
  Amount,
  Budget,
  Engine,
  Ledger,
  type Limit,
  type LimitOptions,
  type Reservation,
  ReservationNotFoundError,
} from "../../src/index.js";

const LEDGERS = [0, 1, 2].map((i) => new Ledger("model", "r", `p${i}`));

interface NaiveHold {
  readonly keys: readonly string[];
  readonly amount: bigint;
  readonly expiresAt: number;
  readonly forgetAt: number;
  settled: boolean;
}

class NaiveModel {
  readonly spends = new Map<string, { t: number; amount: bigint }[]>();
  readonly holds = new Map<string, NaiveHold>();

  spent(key: string, limit: Limit, now: number): bigint {
    let total = this.committed(key, limit, now);
    for (const h of this.holds.values()) if (!h.settled && now < h.expiresAt && h.keys.includes(key)) total += h.amount;
    return total;
  }

  committed(key: string, limit: Limit, now: number): bigint {
    const from = windowStart(limit, now);
    let total = 0n;
    for (const s of this.spends.get(key) ?? []) if (s.t >= from) total += s.amount;
    return total;
  }

  record(keys: readonly string[], amount: bigint, now: number): void {
    for (const key of keys) {
      if (amount === 0n) continue;
      const list = this.spends.get(key) ?? [];
      list.push({ t: now, amount });
      this.spends.set(key, list);
    }
  }

  /** `"missing"` for an unknown or settled hold; else whether it was late. */
  settle(id: string, now: number): "missing" | { late: boolean; hold: NaiveHold } {
    const hold = this.holds.get(id);
    if (hold === undefined || hold.settled || now >= hold.forgetAt) return "missing";
    hold.settled = true;
    return { late: now >= hold.expiresAt, hold };
  }
}

/** The first instant a limit counts at `now`, from first principles. */
function windowStart(limit: Limit, now: number): number {
  const window = limit.window;
  if (window === null) return Number.NEGATIVE_INFINITY;
  if (typeof window === "number") return now - window;
  return new Calendar(window.calendar, window.timeZone, window.weekStartsOn).startOf(now);
}

type Op =
  | { kind: "check" | "reserve"; ledgers: number[]; cents: number; tiny: boolean }
  | { kind: "commit"; hold: number; fraction: number }
  | { kind: "release"; hold: number }
  | { kind: "advance"; seconds: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("check" as const, "reserve" as const),
    ledgers: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
    cents: fc.integer({ min: 0, max: 120 }),
    tiny: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("commit" as const), hold: fc.nat(), fraction: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant("release" as const), hold: fc.nat() }),
  fc.record({
    kind: fc.constant("advance" as const),
    seconds: fc.constantFrom(0.5, 1, 2, 3, 5, 7, 11, 5400, 21_600),
  }),
);

const WINDOWS: LimitOptions["window"][] = [
  5,
  10,
  30,
  null,
  { calendar: "day" },
  { calendar: "day", timeZone: "Asia/Kolkata" },
  { calendar: "week", timeZone: "America/New_York", weekStartsOn: 0 },
];

const limitArb = fc.record({
  cents: fc.integer({ min: 0, max: 400 }),
  window: fc.integer({ min: 0, max: WINDOWS.length - 1 }),
  shadow: fc.boolean(),
  alerts: fc.constantFrom([], [0.5], [0.25, 0.75, 1]),
});
const budgetArb = fc.array(limitArb, { minLength: 1, maxLength: 3 });
type BudgetSpec = { cents: number; window: number; shadow: boolean; alerts: readonly number[] }[];

function budgetOf(spec: BudgetSpec): Budget {
  return new Budget({
    limits: spec.map((l) => ({
      maxSpend: Amount.fromUnits(BigInt(l.cents) * 10n ** 16n, 2),
      window: WINDOWS[l.window],
      alerts: l.alerts,
      // At least one enforced limit keeps the run meaningful; the others may shadow.
      shadow: l.shadow && l !== spec[0],
    })),
  });
}

/** Alerts the model expects of `delta` added to each ledger's spend at `now`. */
function expectedAlerts(
  keys: readonly string[],
  budgets: readonly Budget[],
  delta: bigint,
  before: readonly bigint[][],
): string[] {
  const heard: string[] = [];
  if (delta <= 0n) return heard;
  keys.forEach((key, i) => {
    (budgets[i] as Budget).limits.forEach((limit, j) => {
      const b = (before[i] as bigint[])[j] as bigint;
      limit.thresholds.forEach((threshold, k) => {
        if (b < threshold && threshold <= b + delta) heard.push(`${key}#${j}@${limit.alerts[k]}`);
      });
    });
  });
  return heard;
}

async function run(ops: Op[], specs: BudgetSpec[], ttl: number, late: number) {
  // Near midnight UTC on a Saturday, so that days and weeks roll over within a run.
  const clock = { now: Date.UTC(2026, 2, 7, 23, 0) / 1000 };
  const engine = new Engine({ clock: () => clock.now, reservationTtl: ttl, lateCommitWindow: late });
  const budgets = specs.map(budgetOf);
  for (const [i, l] of LEDGERS.entries()) engine.register(l, budgets[i] as Budget);
  const heard: string[] = [];
  engine.onThreshold((e) => {
    heard.push(`${e.ledger}#${e.budget.limits.indexOf(e.limit)}@${e.level}`);
  });
  const model = new NaiveModel();
  const reservations: Reservation[] = [];
  const expectedHeard: string[] = [];
  let lateCommits = 0;

  const spentOf = (indexes: readonly number[], now: number) =>
    indexes.map((i) =>
      (budgets[i] as Budget).limits.map((limit) => model.spent((LEDGERS[i] as Ledger).toString(), limit, now)),
    );

  for (const step of ops) {
    const now = clock.now;
    if (step.kind === "advance") {
      clock.now += step.seconds;
      continue;
    }
    if (step.kind === "check" || step.kind === "reserve") {
      const amount = Amount.fromUnits(BigInt(step.cents) * 10n ** 16n + (step.tiny ? 1n : 0n), 2);
      const targets = step.ledgers.map((i) => LEDGERS[i] as Ledger);
      const keys = targets.map((l) => l.toString());
      const lineBudgets = step.ledgers.map((i) => budgets[i] as Budget);
      const before = spentOf(step.ledgers, now);
      const fits = lineBudgets.every((budget, j) =>
        budget.limits.every(
          (limit, k) => limit.shadow || ((before[j] as bigint[])[k] as bigint) + amount.units <= limit.maxSpend.units,
        ),
      );
      let decision: Awaited<ReturnType<Engine["check"]>>;
      if (step.kind === "check") {
        decision = await engine.check(targets, amount);
        if (fits) model.record(keys, amount.units, now);
      } else {
        const outcome = await engine.reserve(targets, amount);
        decision = outcome.decision;
        if (outcome.reservation) {
          reservations.push(outcome.reservation);
          model.holds.set(outcome.reservation.id, {
            keys,
            amount: amount.units,
            expiresAt: now + ttl,
            forgetAt: now + ttl + late,
            settled: false,
          });
        }
        expect(outcome.reservation !== null).toBe(fits);
      }
      expect(decision.allowed).toBe(fits);
      if (fits && step.kind === "check") expectedHeard.push(...expectedAlerts(keys, lineBudgets, amount.units, before));
      // At decision time: an allowed request is part of every limit's spend, a blocked one of none.
      const atDecision = before.map((limits) => limits.map((spent) => (fits ? spent + amount.units : spent)));
      expect(decision.perLedger.map((d) => d.limits.map((part) => part.spent.units))).toEqual(atDecision);
      const wouldBlock = lineBudgets.map((budget, j) =>
        budget.limits.some((limit, k) => ((before[j] as bigint[])[k] as bigint) + amount.units > limit.maxSpend.units),
      );
      expect(decision.perLedger.map((d) => d.wouldBlock)).toEqual(wouldBlock);
    } else if (reservations.length > 0) {
      const settle = step as Extract<Op, { hold: number }>;
      const reservation = reservations[settle.hold % reservations.length] as Reservation;
      const expected = model.settle(reservation.id, now);
      const actual =
        step.kind === "commit"
          ? Amount.fromUnits((reservation.estimate.units * BigInt((settle as { fraction: number }).fraction)) / 100n)
          : Amount.ZERO;
      const indexes = reservation.ledgers.map((l) => LEDGERS.findIndex((m) => m.equals(l)));
      // The model has already dropped the hold: the spend before the commit, without the hold it settles.
      const before = spentOf(indexes, now);
      const attempt = step.kind === "commit" ? engine.commit(reservation, actual) : engine.release(reservation);
      if (expected === "missing") {
        await expect(attempt).rejects.toBeInstanceOf(ReservationNotFoundError);
      } else {
        expect((await attempt).late).toBe(expected.late);
        if (step.kind === "commit") {
          model.record(expected.hold.keys, actual.units, now);
          if (expected.late) lateCommits++;
          const lineBudgets = indexes.map((i) => budgets[i] as Budget);
          expectedHeard.push(...expectedAlerts(expected.hold.keys, lineBudgets, actual.units, before));
        }
      }
    }
    expect(heard).toEqual(expectedHeard);
    for (const [i, ledger] of LEDGERS.entries()) {
      const budget = budgets[i] as Budget;
      const usage = await engine.usage(ledger);
      expect(usage.limits.map((part) => part.spent.units)).toEqual(
        budget.limits.map((limit) => model.spent(ledger.toString(), limit, clock.now)),
      );
      if (lateCommits === 0) {
        for (const limit of budget.limits) {
          if (limit.shadow) continue;
          expect(model.committed(ledger.toString(), limit, clock.now) <= limit.maxSpend.units).toBe(true);
        }
      }
    }
  }
}

describe("engine and memory store against a naive model", () => {
  it("make identical decisions, with holds that expire and late commits", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 20, maxLength: 150 }),
        fc.array(budgetArb, { minLength: 3, maxLength: 3 }),
        (ops, specs) => run(ops, specs, 4, 20),
      ),
      { numRuns: 300 },
    );
  });

  it("never let committed spend in any window exceed its budget when holds outlive the run", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 20, maxLength: 150 }),
        fc.array(budgetArb, { minLength: 3, maxLength: 3 }),
        (ops, specs) => run(ops, specs, 1e9, 1e9),
      ),
      { numRuns: 300 },
    );
  });
});
