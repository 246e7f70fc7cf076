/**
 * Property test: long random sequences of check / reserve / commit / release / clock advances on
 * random ledgers, run against the engine with its memory store and against a deliberately naive
 * model that sums everything every time. Decisions must be identical, and with holds that never
 * expire (so no late commit can land over the limit) no window may ever hold more than its budget.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Amount, Budget, Engine, Ledger, type Reservation, ReservationNotFoundError } from "../../src/index.js";

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

  spent(key: string, window: number | null, now: number): bigint {
    let total = 0n;
    for (const s of this.spends.get(key) ?? []) if (window === null || s.t >= now - window) total += s.amount;
    for (const h of this.holds.values()) if (!h.settled && now < h.expiresAt && h.keys.includes(key)) total += h.amount;
    return total;
  }

  committed(key: string, window: number | null, now: number): bigint {
    let total = 0n;
    for (const s of this.spends.get(key) ?? []) if (window === null || s.t >= now - window) total += s.amount;
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
  fc.record({ kind: fc.constant("advance" as const), seconds: fc.constantFrom(0.5, 1, 2, 3, 5, 7, 11) }),
);

const budgetArb = fc.record({
  cents: fc.integer({ min: 0, max: 400 }),
  window: fc.constantFrom(5, 10, 30, null),
});

async function run(ops: Op[], budgetSpecs: { cents: number; window: number | null }[], ttl: number, late: number) {
  const clock = { now: 100 };
  const engine = new Engine({ clock: () => clock.now, reservationTtl: ttl, lateCommitWindow: late });
  const budgets = budgetSpecs.map(
    (b) => new Budget({ maxSpend: Amount.fromUnits(BigInt(b.cents) * 10n ** 16n, 2), window: b.window }),
  );
  for (const [i, l] of LEDGERS.entries()) engine.register(l, budgets[i] as Budget);
  const model = new NaiveModel();
  const reservations: Reservation[] = [];
  let lateCommits = 0;

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
      const expectedSpent = step.ledgers.map((i) =>
        model.spent(keys[step.ledgers.indexOf(i)] as string, (budgets[i] as Budget).window, now),
      );
      const fits = step.ledgers.every(
        (i, j) => (expectedSpent[j] as bigint) + amount.units <= (budgets[i] as Budget).maxSpend.units,
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
      // At decision time: an allowed request is part of the spend, a blocked one is not.
      const spentAtDecision = expectedSpent.map((spent) => (fits ? spent + amount.units : spent));
      expect(decision.perLedger.map((d) => d.spentInWindow.units)).toEqual(spentAtDecision);
      const left = spentAtDecision.map((spent, j) => {
        const max = (budgets[step.ledgers[j] as number] as Budget).maxSpend.units;
        return spent < max ? max - spent : 0n;
      });
      expect(decision.perLedger.map((d) => d.remaining.units)).toEqual(left);
    } else if (reservations.length > 0) {
      const settle = step as Extract<Op, { hold: number }>;
      const reservation = reservations[settle.hold % reservations.length] as Reservation;
      const expected = model.settle(reservation.id, now);
      const actual =
        step.kind === "commit"
          ? Amount.fromUnits((reservation.estimate.units * BigInt((settle as { fraction: number }).fraction)) / 100n)
          : Amount.ZERO;
      const attempt = step.kind === "commit" ? engine.commit(reservation, actual) : engine.release(reservation);
      if (expected === "missing") {
        await expect(attempt).rejects.toBeInstanceOf(ReservationNotFoundError);
      } else {
        expect((await attempt).late).toBe(expected.late);
        if (step.kind === "commit") {
          model.record(expected.hold.keys, actual.units, now);
          if (expected.late) lateCommits++;
        }
      }
    }
    for (const [i, ledger] of LEDGERS.entries()) {
      const budget = budgets[i] as Budget;
      expect((await engine.spent(ledger)).units).toBe(model.spent(ledger.toString(), budget.window, clock.now));
      if (lateCommits === 0) {
        expect(model.committed(ledger.toString(), budget.window, clock.now) <= budget.maxSpend.units).toBe(true);
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
