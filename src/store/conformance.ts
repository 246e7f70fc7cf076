/**
 * `budgetgate/store/conformance`: the suite every store runs unchanged, the stores of this package
 * and third-party ones alike. It registers vitest tests (vitest is an optional peer dependency), so
 * call it at the top level of a `*.test.ts` file. Each test uses its own namespace, so suites may
 * share a server with other runs.
 *
 * @packageDocumentation
 */
import { randomUUID } from "node:crypto";
import {
  Amount,
  BlockReason,
  Budget,
  Engine,
  type EngineOptions,
  Ledger,
  ReservationNotFoundError,
  Status,
} from "budgetgate";
import type { Store } from "budgetgate/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** How the suite gets the store under test, and gives it back. */
export interface ConformanceSetup {
  /** Makes the store under test (called once per suite). */
  create(): Store | Promise<Store>;
  /** Closes what `create` opened. */
  destroy?(store: Store): void | Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the conformance tests of the store that `setup.create` makes, under `name`: decisions,
 * windows, holds and their expiry, late commits, settlement errors, clearing, atomicity of
 * several-ledger calls, exact arithmetic. Failing tests name the rule the store broke.
 *
 * @throws {Error} (from vitest) if called anywhere but at the collection of a test file.
 * @example
 * import { describeStoreConformance } from "budgetgate/store/conformance";
 * describeStoreConformance("MyStore", { create: () => new MyStore(), destroy: (store) => store.close?.() });
 */
export function describeStoreConformance(name: string, setup: ConformanceSetup): void {
  describe(`${name} conformance`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await setup.create();
    });
    afterAll(async () => {
      await setup.destroy?.(store);
    });

    /** An engine on the store under test with a clock the test moves, and a fresh namespace. */
    function rig(options: Omit<EngineOptions, "store" | "clock"> = {}) {
      const clock = { now: 1_000_000 };
      const engine = new Engine({ store, clock: () => clock.now, ...options });
      const ns = `c${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const ledger = (resource = "model", principal = "global") => new Ledger(ns, resource, principal);
      return { engine, clock, ledger, ns };
    }

    it("allows a fixed cost that fits and blocks one that does not", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "0.10", window: 3600 });
      const l = ledger();
      const statuses: string[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await engine.check(l, "0.03", budget)).status);
      expect(statuses).toEqual(["ALLOW", "ALLOW", "ALLOW", "BLOCK", "BLOCK"]);
      const blocked = await engine.check(l, "0.03", budget);
      expect(blocked.reason).toBe(BlockReason.BUDGET_EXCEEDED);
      expect(blocked.message).toBe("Budget exceeded: 0.09 + 0.03 > 0.10");
      expect(blocked.spentInWindow.toString()).toBe("0.09");
      expect(blocked.remaining.toString()).toBe("0.01");
      expect((await engine.spent(l, budget)).toString()).toBe("0.09");
    });

    it("allows a cost that fits exactly, then blocks the smallest unit more", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "1.000000000000000001", window: 60 });
      const l = ledger();
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      const exact = await engine.check(l, "0.000000000000000001", budget);
      expect(exact.allowed).toBe(true);
      expect(exact.remaining.isZero()).toBe(true);
      expect((await engine.check(l, "0.000000000000000001", budget)).blocked).toBe(true);
    });

    it("blocks any positive cost under a zero budget, and allows a zero cost", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: 0, window: 60 });
      expect((await engine.check(ledger(), "0.000000000000000001", budget)).blocked).toBe(true);
      expect((await engine.check(ledger(), 0, budget)).allowed).toBe(true);
    });

    it("counts spends at or after now - window and drops older ones", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 60 });
      const l = ledger();
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      clock.now += 60; // spend is exactly at now - window: still counts
      expect((await engine.check(l, "0.5", budget)).blocked).toBe(true);
      clock.now += 0.001;
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    });

    it("keeps a lifetime budget's spends forever", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "2", window: null });
      const l = ledger();
      expect((await engine.check(l, "1.5", budget)).allowed).toBe(true);
      clock.now += 10 * 365 * 86_400;
      const later = await engine.check(l, "1", budget);
      expect(later.blocked).toBe(true);
      expect(later.spentInWindow.toString()).toBe("1.5");
    });

    it("prunes in time order across many spends", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "100", window: 10 });
      const l = ledger();
      for (let i = 0; i < 20; i++) {
        expect((await engine.check(l, "1", budget)).allowed).toBe(true);
        clock.now += 1;
      }
      // Spends at t0..t0+19; now is t0+20; window 10 keeps t0+10..t0+19.
      expect((await engine.spent(l, budget)).toString()).toBe("10");
    });

    it("counts a reservation toward spend until it is settled", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "1.00", window: 3600 });
      const l = ledger();
      const { reservation, decision } = await engine.reserve(l, "0.70", budget);
      expect(decision.allowed).toBe(true);
      expect(reservation).not.toBeNull();
      expect((await engine.spent(l, budget)).toString()).toBe("0.70");
      const second = await engine.reserve(l, "0.40", budget);
      expect(second.reservation).toBeNull();
      expect(second.decision.blocked).toBe(true);
      expect(second.decision.spentInWindow.toString()).toBe("0.70");
    });

    it("recovers headroom when the actual cost is below the estimate", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "1.00", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "0.80", budget);
      if (!reservation) throw new Error("expected a reservation");
      const settled = await engine.commit(reservation, "0.25");
      expect(settled.late).toBe(false);
      expect(settled.recorded.toString()).toBe("0.25");
      expect((await engine.spent(l, budget)).toString()).toBe("0.25");
      expect((await engine.check(l, "0.75", budget)).allowed).toBe(true);
      expect((await engine.check(l, "0.01", budget)).blocked).toBe(true);
    });

    it("recovers all headroom on release and records nothing", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      expect((await engine.check(l, "0.1", budget)).blocked).toBe(true);
      const released = await engine.release(reservation);
      expect(released.late).toBe(false);
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    });

    it("throws ReservationNotFoundError on a second commit or release and changes nothing", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "5", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      await engine.commit(reservation, "0.5");
      await expect(engine.commit(reservation, "0.5")).rejects.toBeInstanceOf(ReservationNotFoundError);
      await expect(engine.release(reservation)).rejects.toBeInstanceOf(ReservationNotFoundError);
      expect((await engine.spent(l, budget)).toString()).toBe("0.5");

      const other = await engine.reserve(l, "1", budget);
      if (!other.reservation) throw new Error("expected a reservation");
      await engine.release(other.reservation);
      await expect(engine.release(other.reservation)).rejects.toBeInstanceOf(ReservationNotFoundError);
      await expect(engine.commit(other.reservation, "1")).rejects.toBeInstanceOf(ReservationNotFoundError);
      expect((await engine.spent(l, budget)).toString()).toBe("0.5");
    });

    it("expires an unsettled hold after its TTL, recovering the headroom", async () => {
      const { engine, clock, ledger } = rig({ reservationTtl: 30 });
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      expect(reservation).not.toBeNull();
      clock.now += 29;
      expect((await engine.check(l, "0.5", budget)).blocked).toBe(true);
      clock.now += 1.5;
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
      expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
    });

    it("records a commit that arrives after the hold expired, and says it was late", async () => {
      const { engine, clock, ledger } = rig({ reservationTtl: 30 });
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "0.6", budget);
      if (!reservation) throw new Error("expected a reservation");
      clock.now += 31;
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
      const settled = await engine.commit(reservation, "0.4");
      expect(settled.late).toBe(true);
      expect((await engine.spent(l, budget)).toString()).toBe("0.4");
      await expect(engine.commit(reservation, "0.4")).rejects.toBeInstanceOf(ReservationNotFoundError);
      expect((await engine.spent(l, budget)).toString()).toBe("0.4");
    });

    it("answers a release after expiry as late, without error", async () => {
      const { engine, clock, ledger } = rig({ reservationTtl: 5 });
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const { reservation } = await engine.reserve(ledger(), "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      clock.now += 6;
      expect((await engine.release(reservation)).late).toBe(true);
      await expect(engine.release(reservation)).rejects.toBeInstanceOf(ReservationNotFoundError);
    });

    it("forgets an expired hold once the late-commit window has passed", async () => {
      const { engine, clock, ledger } = rig({ reservationTtl: 5, lateCommitWindow: 100 });
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      clock.now += 5 + 100 + 1;
      await engine.check(l, 0, budget); // any call lets the store tidy up
      await expect(engine.commit(reservation, "1")).rejects.toBeInstanceOf(ReservationNotFoundError);
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
    });

    it("records a commit at commit time, so it counts for a full window from then", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 100 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      clock.now += 50;
      await engine.commit(reservation, "1");
      clock.now += 99;
      expect((await engine.spent(l, budget)).toString()).toBe("1");
      clock.now += 2;
      expect((await engine.spent(l, budget)).isZero()).toBe(true);
    });

    it("records an actual above the estimate in full", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "10", window: 3600 });
      const l = ledger();
      const { reservation } = await engine.reserve(l, "1", budget);
      if (!reservation) throw new Error("expected a reservation");
      const settled = await engine.commit(reservation, "1.5");
      expect(settled.overEstimate).toBe(true);
      expect((await engine.spent(l, budget)).toString()).toBe("1.5");
    });

    it("keeps distinct ledgers apart, even when their fields contain separators", async () => {
      const { engine, ns } = rig();
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const a = new Ledger(ns, "b:c", "x");
      const b = new Ledger(ns, "b", "c:x");
      const c = new Ledger(ns, "b", "c:x ");
      expect((await engine.check(a, "1", budget)).allowed).toBe(true);
      expect((await engine.check(b, "1", budget)).allowed).toBe(true);
      expect((await engine.check(c, "1", budget)).allowed).toBe(true);
      expect((await engine.check(new Ledger(ns, "b:c", "x"), "0.1", budget)).blocked).toBe(true);
      const braces = new Ledger(ns, "{x}", "}{");
      const odd = new Ledger(ns, "{x}", "}{ ");
      expect((await engine.check(braces, "1", budget)).allowed).toBe(true);
      expect((await engine.check(odd, "1", budget)).allowed).toBe(true);
      const unicode = new Ledger(ns, "modèle", "user:ñ\u0000\n");
      expect((await engine.check(unicode, "1", budget)).allowed).toBe(true);
      expect((await engine.check(unicode, "1", budget)).blocked).toBe(true);
    });

    it("keeps amounts exact: 18 decimal places and totals far above 2^53 units", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "99999999999999999999.999999999999999999", window: null });
      const l = ledger();
      const step = "12345678901234567.123456789012345678";
      for (let i = 0; i < 3; i++) expect((await engine.check(l, step, budget)).allowed).toBe(true);
      expect((await engine.spent(l, budget)).toString()).toBe("37037036703703701.370370367037037034");
      expect((await engine.check(l, "0.000000000000000001", budget)).allowed).toBe(true);
      expect((await engine.spent(l, budget)).toString()).toBe("37037036703703701.370370367037037035");
      const small = ledger("small");
      const tiny = new Budget({ maxSpend: "0.3", window: 60 });
      for (const cost of [0.1, 0.2]) expect((await engine.check(small, cost, tiny)).allowed).toBe(true);
      expect((await engine.spent(small, tiny)).toString()).toBe("0.3");
      const top = ledger("top");
      expect((await engine.check(top, "99999999999999999999.999999999999999999", budget)).allowed).toBe(true);
      expect((await engine.spent(top, budget)).units).toBe(10n ** 38n - 1n);
    });

    it("charges several ledgers together: blocked by the tightest, recorded on all or none", async () => {
      const { engine, ledger } = rig();
      const user = { ledger: ledger("m", "user:1"), budget: new Budget({ maxSpend: "1", window: 3600 }) };
      const team = { ledger: ledger("m", "team:a"), budget: new Budget({ maxSpend: "1.5", window: 3600 }) };
      const org = { ledger: ledger("m", "org"), budget: new Budget({ maxSpend: "10", window: 3600 }) };
      const first = await engine.check([user, team, org], "0.8");
      expect(first.allowed).toBe(true);
      expect(first.perLedger.map((d) => d.status)).toEqual(["ALLOW", "ALLOW", "ALLOW"]);
      expect(first.ledger.equals(user.ledger)).toBe(true); // least remaining: 0.2
      const second = await engine.check([team, org], "0.8");
      expect(second.blocked).toBe(true);
      expect(second.ledger.equals(team.ledger)).toBe(true);
      expect(second.perLedger.map((d) => d.status)).toEqual(["BLOCK", "ALLOW"]);
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("0.8"); // none recorded
      const third = await engine.check([org, team], "0.7");
      expect(third.allowed).toBe(true);
      expect((await engine.spent(team.ledger, team.budget)).toString()).toBe("1.5");
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("1.5");
      expect((await engine.spent(user.ledger, user.budget)).toString()).toBe("0.8");
    });

    it("reserves and commits on several ledgers together", async () => {
      const { engine, ledger, clock } = rig({ reservationTtl: 10 });
      const user = { ledger: ledger("m", "user:1"), budget: new Budget({ maxSpend: "1", window: 3600 }) };
      const org = { ledger: ledger("m", "org"), budget: new Budget({ maxSpend: "5", window: 3600 }) };
      const { reservation } = await engine.reserve([user, org], "0.9");
      if (!reservation) throw new Error("expected a reservation");
      expect((await engine.reserve([user, org], "0.2")).reservation).toBeNull();
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("0.9");
      await engine.commit(reservation, "0.3");
      expect((await engine.spent(user.ledger, user.budget)).toString()).toBe("0.3");
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("0.3");
      const second = await engine.reserve([user, org], "0.5");
      if (!second.reservation) throw new Error("expected a reservation");
      clock.now += 11;
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("0.3");
      expect((await engine.commit(second.reservation, "0.5")).late).toBe(true);
      expect((await engine.spent(user.ledger, user.budget)).toString()).toBe("0.8");
      expect((await engine.spent(org.ledger, org.budget)).toString()).toBe("0.8");
    });

    it("forgets one ledger on clear, and every ledger on clearAll", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      const a = ledger("a");
      const b = ledger("b");
      await engine.check(a, "1", budget);
      await engine.check(b, "1", budget);
      await engine.clear(a);
      expect((await engine.spent(a, budget)).isZero()).toBe(true);
      expect((await engine.spent(b, budget)).toString()).toBe("1");
      expect((await engine.check(a, "1", budget)).allowed).toBe(true);
    });

    it("admits exactly what the budget allows under 200 concurrent callers", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "5.00", window: 3600 });
      const l = ledger();
      const decisions = await Promise.all(Array.from({ length: 200 }, () => engine.check(l, "0.07", budget)));
      const allowed = decisions.filter((d) => d.status === Status.ALLOW).length;
      expect(allowed).toBe(71); // floor(5.00 / 0.07)
      expect((await engine.spent(l, budget)).toString()).toBe("4.97");
    });

    it("admits exactly what the budget allows under concurrent reserve/commit", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({ maxSpend: "3", window: 3600 });
      const l = ledger();
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const { reservation } = await engine.reserve(l, "0.5", budget);
          if (!reservation) return false;
          await engine.commit(reservation, "0.25");
          return true;
        }),
      );
      const held = outcomes.filter(Boolean).length;
      expect(held).toBeGreaterThanOrEqual(6);
      const spent = await engine.spent(l, budget);
      expect(spent.lte("3")).toBe(true);
      expect(spent.units).toBe(Amount.from("0.25").units * BigInt(held));
    });

    it("uses its own clock when the engine has none", async () => {
      const engine = new Engine({ store, reservationTtl: 0.3 });
      const l = new Ledger(`c${randomUUID().slice(0, 8)}`, "own-clock");
      const budget = new Budget({ maxSpend: "1", window: 3600 });
      expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
      const { reservation } = await engine.reserve(l, "0.5", budget);
      expect(reservation).not.toBeNull();
      expect((await engine.check(l, "0.1", budget)).blocked).toBe(true);
      await sleep(450);
      expect((await engine.spent(l, budget)).toString()).toBe("0.5");
      expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
    });
  });
}
