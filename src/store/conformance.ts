/**
 * `budgetgate/store/conformance`: the suite every store runs unchanged, the stores of this package
 * and third-party ones alike. It registers vitest tests (vitest is an optional peer dependency), so
 * call it at the top level of a `*.test.ts` file. Each test uses its own namespace, so suites may
 * share a server with other runs.
 *
 *   describeStoreConformance("RedisStore", { create: () => new RedisStore(client), faults: { … } });
 *
 * With `faults` it also pins the error contract of the Store interface: a misconfiguration is thrown, never
 * decided; an outage is a STORE_ERROR decision; a passed deadline is a StoreTimeoutError.
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
  MAX_DURATION_SECONDS,
  MAX_LEDGER_KEY_BYTES,
  MAX_UNITS,
  ReservationNotFoundError,
  Status,
  StoreError,
  StoreErrorMode,
  StoreTimeoutError,
} from "budgetgate";
import type { Store } from "budgetgate/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describePolicyConformance } from "./conformance-policies.js";

/** How the suite gets the store under test, and gives it back. */
export interface ConformanceSetup {
  /** Makes the store under test (called once per suite). */
  create(): Store | Promise<Store>;
  /** Closes what `create` opened. */
  destroy?(store: Store): void | Promise<void>;
  /** Stores of the same backend in trouble, for the error contract. Every store in this repository gives them. */
  readonly faults?: FaultSetup;
}

/** How the suite gets a store in each kind of trouble. Each gets the store under test. */
export interface FaultSetup {
  /**
   * A store set up wrongly on the same backend (schema not created, an option that throws),
   * sharing the state of `store` where it can: every call must throw something that is not a
   * StoreError, and change nothing.
   */
  misconfigured(store: Store): Store | Promise<Store>;
  /** A store whose backend cannot be reached: every call must fail with a StoreError. */
  unreachable(store: Store): Store | Promise<Store>;
  /**
   * Makes calls wait past any deadline (another connection holding a lock, a blocked connection):
   * `store` is the store to call meanwhile, `end` lifts the stall.
   */
  stall(store: Store): Promise<Stall>;
  /** Closes what the other three made. */
  close?(store: Store): void | Promise<void>;
}

/** A store whose calls are held up, and the way to let them go. */
export interface Stall {
  /** The store to call while the stall lasts (often `store` itself). */
  readonly store: Store;
  /** Lifts the stall. */
  end(): Promise<void>;
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

    describePolicyConformance(() => store);

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
      const unicode = new Ledger(ns, "modèle", "user:ñ\u0000\t");
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

    it("handles windows, TTLs and late-commit windows of MAX_DURATION_SECONDS", async () => {
      const { engine, clock, ledger } = rig({
        reservationTtl: MAX_DURATION_SECONDS,
        lateCommitWindow: MAX_DURATION_SECONDS,
      });
      const budget = new Budget({ maxSpend: "2", window: MAX_DURATION_SECONDS });
      const l = ledger();
      expect((await engine.check(l, "0.5", budget)).reason).toBeNull();
      const { reservation, decision } = await engine.reserve([l, ledger("other")], "1", budget);
      expect(decision.reason).toBeNull();
      if (!reservation) throw new Error("expected a reservation");
      expect((await engine.spent(l, budget)).toString()).toBe("1.5");
      expect((await engine.check(l, "1", budget)).blocked).toBe(true);
      clock.now += 1_000_000;
      expect((await engine.commit(reservation, "0.25")).late).toBe(false);
      expect((await engine.spent(l, budget)).toString()).toBe("0.75");
      expect((await engine.spent(ledger("other"), budget)).toString()).toBe("0.25");
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

    describe("ledgers at the length limit, and totals past 38 digits", () => {
      /** A ledger of exactly MAX_LEDGER_KEY_BYTES bytes: `unit` repeated, then at least one `pad`. */
      function atLimit(ns: string, unit: string, pad = "x"): Ledger {
        let principal = "";
        const bytes = () => Buffer.byteLength(`${ns}:long@${principal}`);
        while (bytes() + Buffer.byteLength(unit) < MAX_LEDGER_KEY_BYTES) principal += unit;
        while (bytes() < MAX_LEDGER_KEY_BYTES) principal += pad;
        const ledger = new Ledger(ns, "long", principal);
        expect(Buffer.byteLength(ledger.toString())).toBe(MAX_LEDGER_KEY_BYTES);
        return ledger;
      }

      it("charges, holds, commits and reads back ledgers of exactly MAX_LEDGER_KEY_BYTES, escapes and all", async () => {
        const { engine, ns } = rig();
        const budget = new Budget({ maxSpend: "1", window: 3600 });
        // What stores escape (PostgreSQL doubles \\ and NUL; Redis widens %, { and } fivefold; both
        // rewrite lone surrogates), and characters of 2, 3 and 4 bytes.
        const units = ["\\", "\u0000", "\uD800", "%", "{", "}", "é", "中", "😀", "\\\u0000\uDC00%{}é中😀:@"];
        const ledgers = units.map((unit) => atLimit(ns, unit));
        for (const l of ledgers) {
          const charged = await engine.check(l, "0.25", budget);
          expect([charged.status, charged.spentInWindow.toString()]).toEqual(["ALLOW", "0.25"]);
          expect(charged.ledger.toString()).toBe(l.toString());
          const { reservation, decision } = await engine.reserve(l, "0.5", budget);
          if (!reservation) throw new Error(`expected a hold on ${JSON.stringify(l.principal.slice(0, 8))}…`);
          expect(decision.spentInWindow.toString()).toBe("0.75");
          expect((await engine.commit(reservation, "0.125")).recorded.toString()).toBe("0.125");
          expect((await engine.spent(l, budget)).toString()).toBe("0.375");
          const blocked = await engine.check(l, "0.7", budget);
          expect([blocked.status, blocked.reason, blocked.spentInWindow.toString()]).toEqual([
            "BLOCK",
            "BUDGET_EXCEEDED",
            "0.375",
          ]);
        }
        // Ledgers differing only in their last character share nothing.
        for (const unit of units) expect((await engine.spent(atLimit(ns, unit, "y"), budget)).isZero()).toBe(true);
        const together = await engine.check(
          ledgers.map((l) => ({ ledger: l, budget })),
          "0.625",
        );
        expect(together.perLedger.map((d) => `${d.status} ${d.spentInWindow}`)).toEqual(
          ledgers.map(() => "ALLOW 1.000"),
        );
        for (const l of ledgers) expect((await engine.spent(l, budget)).toString()).toBe("1");
      });

      it("blocks, and does not fail open, once commits above their estimates take a total past 38 digits", async () => {
        const { engine, ledger } = rig();
        const budget = new Budget({ maxSpend: "1", window: 3600, onStoreError: StoreErrorMode.FAIL_OPEN });
        const l = ledger();
        const holds = [await engine.reserve(l, "0.5", budget), await engine.reserve(l, "0.5", budget)];
        for (const { reservation } of holds) {
          if (!reservation) throw new Error("expected a reservation");
          expect((await engine.commit(reservation, "99999999999999999999.999999999999999999")).overEstimate).toBe(true);
        }
        const total = 2n * MAX_UNITS;
        expect((await engine.spent(l, budget)).units).toBe(total);
        expect((await engine.remaining(l, budget)).isZero()).toBe(true);
        const checked = await engine.check(l, "0.01", budget);
        expect([checked.status, checked.reason, checked.spentInWindow.units]).toEqual([
          Status.BLOCK,
          BlockReason.BUDGET_EXCEEDED,
          total,
        ]);
        expect(checked.remaining.isZero()).toBe(true);
        expect(checked.toJSON().spent_in_window).toBe("199999999999999999999.999999999999999998");
        const reserved = await engine.reserve(
          l,
          0,
          new Budget({ maxSpend: "5", onStoreError: StoreErrorMode.FAIL_OPEN }),
        );
        expect([reserved.reservation, reserved.decision.reason]).toEqual([null, BlockReason.BUDGET_EXCEEDED]);
        const other = { ledger: ledger("other"), budget };
        const both = await engine.check([other, { ledger: l, budget }], "0.01");
        expect(both.perLedger.map((d) => `${d.status} ${d.reason}`)).toEqual(["ALLOW null", "BLOCK BUDGET_EXCEEDED"]);
        expect((await engine.spent(other.ledger, budget)).isZero()).toBe(true);
        expect((await engine.spent(l, budget)).units).toBe(total);
      });
    });
  });

  const faults = setup.faults;
  describe.skipIf(faults === undefined)(`${name} error contract`, () => {
    let store: Store;
    const made: Store[] = [];
    beforeAll(async () => {
      store = await setup.create();
    });
    afterAll(async () => {
      for (const other of made) await faults?.close?.(other);
      await setup.destroy?.(store);
    });
    const closed = new Budget({ maxSpend: "10", window: 3600 });
    const open = new Budget({ maxSpend: "10", window: 3600, onStoreError: StoreErrorMode.FAIL_OPEN });
    const fresh = () => new Ledger(`e${randomUUID().replaceAll("-", "").slice(0, 12)}`, "model");
    const track = async (made_: Store | Promise<Store>) => {
      const s = await made_;
      made.push(s);
      return s;
    };
    /** A reservation on the healthy store, to settle through a broken one. */
    const held = async (ledger: Ledger) => {
      const { reservation } = await new Engine({ store }).reserve(ledger, "1", closed);
      if (!reservation) throw new Error("expected a reservation");
      return reservation;
    };
    const notStoreError = (error: unknown) => {
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(StoreError);
      return true;
    };

    it("throws a misconfiguration to the caller, even under FAIL_OPEN, and records nothing", async () => {
      const broken = await track((faults as FaultSetup).misconfigured(store));
      const engine = new Engine({ store: broken, storeTimeoutMs: 5000 });
      const healthy = new Engine({ store, storeTimeoutMs: 5000 });
      const l = fresh();
      const reservation = await held(l);
      const decisions: unknown[] = [];
      engine.onDecision((d) => decisions.push(d));
      for (const budget of [open, closed]) {
        await engine.check(l, "1", budget).then(() => expect.fail("check decided"), notStoreError);
        await engine.reserve(l, "1", budget).then(() => expect.fail("reserve decided"), notStoreError);
      }
      await engine.spent(l, open).then(() => expect.fail("spent answered"), notStoreError);
      await engine.commit(reservation, "1").then(() => expect.fail("commit answered"), notStoreError);
      await engine.release(reservation).then(() => expect.fail("release answered"), notStoreError);
      expect(decisions).toEqual([]);
      expect((await healthy.spent(l, closed)).toString()).toBe("1"); // the hold alone
      expect((await healthy.release(reservation)).late).toBe(false);
      expect((await healthy.spent(l, closed)).isZero()).toBe(true);
    });

    it("decides an outage by onStoreError, and throws it as a StoreError elsewhere", async () => {
      const down = await track((faults as FaultSetup).unreachable(store));
      const engine = new Engine({ store: down, storeTimeoutMs: 2000 });
      const l = fresh();
      const reservation = await held(l);
      const allowed = await engine.check(l, "1", open);
      expect([allowed.status, allowed.reason]).toEqual([Status.ALLOW, BlockReason.STORE_ERROR]);
      const blocked = await engine.check(l, "1", closed);
      expect([blocked.status, blocked.reason]).toEqual([Status.BLOCK, BlockReason.STORE_ERROR]);
      const reserved = await engine.reserve(l, "1", closed);
      expect(reserved.reservation).toBeNull();
      expect(reserved.decision.reason).toBe(BlockReason.STORE_ERROR);
      await expect(engine.spent(l, closed)).rejects.toBeInstanceOf(StoreError);
      await expect(engine.commit(reservation, "1")).rejects.toBeInstanceOf(StoreError);
      await expect(engine.release(reservation)).rejects.toBeInstanceOf(StoreError);
      await expect(engine.clear(l)).rejects.toBeInstanceOf(StoreError);
      const healthy = new Engine({ store });
      expect((await healthy.spent(l, closed)).toString()).toBe("1");
      await healthy.release(reservation);
    });

    it("fails a call whose deadline passed with a StoreTimeoutError naming the operation", async () => {
      const l = fresh();
      const reservation = await held(l);
      const stalled = await (faults as FaultSetup).stall(store);
      let ended = false;
      try {
        const engine = new Engine({ store: stalled.store, storeTimeoutMs: 150 });
        const decision = await engine.check(l, "1", closed);
        expect([decision.status, decision.reason]).toEqual([Status.BLOCK, BlockReason.STORE_ERROR]);
        expect(decision.message).toMatch(/charge did not answer within 150 ms/);
        const failures: unknown[] = [];
        for (const attempt of [
          () => engine.spent(l, closed),
          () => engine.commit(reservation, "1"),
          () => engine.release(reservation),
        ]) {
          failures.push(
            await attempt().then(
              () => "answered",
              (error: unknown) => error,
            ),
          );
        }
        expect(failures.map((e) => (e instanceof StoreTimeoutError ? [e.operation, e.timeoutMs] : e))).toEqual([
          ["read", 150],
          ["commit", 150],
          ["release", 150],
        ]);
        await stalled.end();
        ended = true;
        const healthy = new Engine({ store, storeTimeoutMs: 5000 });
        expect((await healthy.spent(l, closed)).toString()).toBe("1"); // the hold alone: nothing ran late
        expect((await healthy.commit(reservation, "0.5")).late).toBe(false);
        expect((await healthy.spent(l, closed)).toString()).toBe("0.5");
      } finally {
        if (!ended) await stalled.end();
      }
    });
  });
}
