/**
 * Differential property test: random sequences of charges, reservations, commits, releases and
 * clock moves (exact window boundaries and long idle gaps included) give the same decisions,
 * settlements and spend on PostgresStore as on the reference MemoryStore. Long runs of spends that
 * then expire exercise the bounded expiry batches and the shortcut that skips the window probe.
 */
import { randomUUID } from "node:crypto";
import { Budget, Engine, Ledger, type Reservation } from "budgetgate";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../../src/index.js";
import { findService } from "../../support/services.js";
import { suiteStore } from "./support/setup.js";

const service = await findService("DATABASE_URL");

type Op =
  | { kind: "check" | "reserve"; ledgers: number[]; cents: number }
  | { kind: "commit"; hold: number; cents: number }
  | { kind: "release"; hold: number }
  | { kind: "advance"; by: "window" | "tiny" | "step" | "idle"; step: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("check" as const),
      ledgers: fc.subarray([0, 1], { minLength: 1 }),
      cents: fc.integer({ min: 0, max: 40 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      ledgers: fc.subarray([0, 1], { minLength: 1 }),
      cents: fc.integer({ min: 0, max: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const), hold: fc.nat(), cents: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), hold: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      by: fc.constantFrom("window" as const, "tiny" as const, "step" as const, "idle" as const),
      step: fc.integer({ min: 1, max: 40 }),
    }),
  },
);

describe.skipIf(!service.ok)("PostgresStore against MemoryStore", () => {
  const suite = suiteStore(service.url, "model");

  it("decides, settles and reports spend exactly as the reference store", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(null, 5, 30),
        fc.integer({ min: 50, max: 400 }),
        fc.array(op, { minLength: 10, maxLength: 60 }),
        async (window, maxCents, ops) => {
          const clock = { now: 1_000 };
          const options = { clock: () => clock.now, reservationTtl: 4, lateCommitWindow: 20, storeTimeoutMs: 10_000 };
          const reference = new Engine({ store: new MemoryStore(), ...options });
          const engine = new Engine({ store: suite.store, ...options });
          const ns = `m${randomUUID().replaceAll("-", "").slice(0, 10)}`;
          const ledgers = [new Ledger(ns, "r", "a"), new Ledger(ns, "r", "b")];
          const budget = new Budget({ maxSpend: (maxCents / 100).toFixed(2), window });
          const holds: [Reservation, Reservation][] = [];
          const targets = (indexes: number[]) => indexes.map((i) => ({ ledger: ledgers[i] as Ledger, budget }));
          const settle = async (run: () => Promise<{ late: boolean }>) => {
            try {
              return (await run()).late ? "late" : "on time";
            } catch (error) {
              return (error as Error).name;
            }
          };
          for (const o of ops) {
            if (o.kind === "advance") {
              const w = window ?? 30;
              clock.now += { window: w, tiny: 0.001, step: (w * o.step) / 100, idle: 3 * w + o.step }[o.by];
            } else if (o.kind === "check" || o.kind === "reserve") {
              const amount = (o.cents / 100).toFixed(2);
              if (o.kind === "check") {
                const [a, b] = await Promise.all([
                  reference.check(targets(o.ledgers), amount),
                  engine.check(targets(o.ledgers), amount),
                ]);
                expect(b.toJSON()).toEqual(a.toJSON());
              } else {
                const [a, b] = await Promise.all([
                  reference.reserve(targets(o.ledgers), amount),
                  engine.reserve(targets(o.ledgers), amount),
                ]);
                expect(b.decision.toJSON()).toEqual(a.decision.toJSON());
                if (a.reservation && b.reservation) holds.push([a.reservation, b.reservation]);
              }
            } else if (holds.length > 0 && (o.kind === "commit" || o.kind === "release")) {
              const [a, b] = holds[o.hold % holds.length] as [Reservation, Reservation];
              const actual = o.kind === "commit" ? (o.cents / 100).toFixed(2) : null;
              const run = (e: Engine, r: Reservation) => () => (actual === null ? e.release(r) : e.commit(r, actual));
              expect(await settle(run(engine, b))).toBe(await settle(run(reference, a)));
            }
            for (const ledger of ledgers) {
              expect((await engine.spent(ledger, budget)).units).toBe((await reference.spent(ledger, budget)).units);
            }
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);
});
