/**
 * Property test: random sequences of check / reserve / commit / release / spent / clear and clock
 * advances, with budgets whose window changes from call to call, run side by side on the memory
 * store (the reference) and on SqliteStore. Every answer must be identical.
 */
import { randomUUID } from "node:crypto";
import { Amount, Budget, type Decision, Engine, Ledger, type Reservation } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

type Op =
  | { kind: "check" | "reserve"; ledgers: number[]; budgets: number[]; cents: number }
  | { kind: "commit"; hold: number; percent: number }
  | { kind: "release"; hold: number }
  | { kind: "spent"; ledger: number; budget: number }
  | { kind: "clear"; ledger: number }
  | { kind: "advance"; seconds: number };

const BUDGETS = [
  new Budget({ maxSpend: "3", window: 5 }),
  new Budget({ maxSpend: "3", window: 20 }),
  new Budget({ maxSpend: "2.5", window: null }),
  new Budget({ maxSpend: "4", window: 10 }),
];

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom("check" as const, "reserve" as const),
      ledgers: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
      budgets: fc.array(fc.integer({ min: 0, max: BUDGETS.length - 1 }), { minLength: 3, maxLength: 3 }),
      cents: fc.integer({ min: 0, max: 150 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("commit" as const), hold: fc.nat(), percent: fc.nat(150) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), hold: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("spent" as const),
      ledger: fc.integer({ min: 0, max: 2 }),
      budget: fc.integer({ min: 0, max: BUDGETS.length - 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), ledger: fc.integer({ min: 0, max: 2 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), seconds: fc.constantFrom(0.25, 1, 3, 5, 8, 21) }),
  },
);

/** Runs `ops` on one engine and returns every answer as text. */
async function answers(engine: Engine, ledgers: readonly Ledger[], ops: readonly Op[], clock: { now: number }) {
  const out: string[] = [];
  const reservations: Reservation[] = [];
  const show = (d: Decision) =>
    `${d.status}/${d.reason}/${d.perLedger.map((p) => `${p.spentInWindow}:${p.remaining}`).join(",")}`;
  for (const step of ops) {
    try {
      switch (step.kind) {
        case "advance":
          clock.now += step.seconds;
          continue;
        case "check":
        case "reserve": {
          const targets = step.ledgers.map((i) => ({
            ledger: ledgers[i] as Ledger,
            budget: BUDGETS[step.budgets[i] as number] as Budget,
          }));
          const amount = Amount.fromUnits(BigInt(step.cents) * 10n ** 16n, 2);
          if (step.kind === "check") {
            out.push(show(await engine.check(targets, amount)));
          } else {
            const { reservation, decision } = await engine.reserve(targets, amount);
            if (reservation) reservations.push(reservation);
            out.push(show(decision));
          }
          break;
        }
        case "commit":
        case "release": {
          const reservation = reservations[step.hold % Math.max(1, reservations.length)];
          if (reservation === undefined) continue;
          const settled =
            step.kind === "commit"
              ? await engine.commit(
                  reservation,
                  Amount.fromUnits((reservation.estimate.units * BigInt(step.percent)) / 100n, 2),
                )
              : await engine.release(reservation);
          out.push(`${step.kind} late=${settled.late} ${settled.recorded}`);
          break;
        }
        case "spent":
          out.push(`spent ${await engine.spent(ledgers[step.ledger] as Ledger, BUDGETS[step.budget])}`);
          break;
        case "clear":
          await engine.clear(ledgers[step.ledger] as Ledger);
          out.push("cleared");
          break;
      }
    } catch (error) {
      out.push(`threw ${(error as Error).name}`);
    }
  }
  return out;
}

describe("SqliteStore against the memory store", () => {
  it("gives the same answers to the same random calls", async () => {
    const store = new SqliteStore(":memory:");
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80 }), async (ops) => {
        const space = `m${randomUUID().slice(0, 8)}`;
        const ledgers = [0, 1, 2].map((i) => new Ledger(space, "model", `p${i}`));
        const options = { reservationTtl: 6, lateCommitWindow: 15 };
        const memoryClock = { now: 1000 };
        const sqliteClock = { now: 1000 };
        const memory = new Engine({ ...options, clock: () => memoryClock.now });
        const sqlite = new Engine({ ...options, store, clock: () => sqliteClock.now });
        const expected = await answers(memory, ledgers, ops, memoryClock);
        const actual = await answers(sqlite, ledgers, ops, sqliteClock);
        expect(actual).toEqual(expected);
      }),
      { numRuns: 200 },
    );
    await store.close();
  });
});
