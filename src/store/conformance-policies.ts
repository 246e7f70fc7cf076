/**
 * The policy half of the conformance suite (budgets of several limits, calendar periods, shadow
 * limits, thresholds, budgets that change, the listing of ledgers), registered by
 * `describeStoreConformance` beside the rest. Not a subpath of its own.
 */
import { randomUUID } from "node:crypto";
import {
  Budget,
  Engine,
  type EngineOptions,
  Ledger,
  type LedgerUsage,
  Mode,
  Status,
  type ThresholdEvent,
} from "budgetgate";
import type { Store } from "budgetgate/store";
import { describe, expect, it, vi } from "vitest";

const DAY = 86_400;
/** Seconds since the epoch of a UTC date. */
const utc = (y: number, m: number, d: number, h = 0, min = 0) => Date.UTC(y, m - 1, d, h, min) / 1000;

/**
 * Registers the policy tests for the store that `store()` gives once the suite has made it.
 * @example describePolicyConformance(() => store);
 */
export function describePolicyConformance(store: () => Store): void {
  describe("policies", () => {
    function rig(start = utc(2026, 3, 7, 12), options: Omit<EngineOptions, "store" | "clock"> = {}) {
      const clock = { now: start };
      const engine = new Engine({ store: store(), clock: () => clock.now, ...options });
      const ns = `p${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const ledger = (resource = "model", principal = "global") => new Ledger(ns, resource, principal);
      const events: ThresholdEvent[] = [];
      engine.onThreshold((event) => {
        events.push(event);
      });
      return { engine, clock, ledger, ns, events };
    }

    it("allows only what fits every limit, records on all, and names the limit that blocked", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "1", window: 60 },
          { maxSpend: "2.5", window: 3600 },
          { maxSpend: "10", window: null },
        ],
      });
      const l = ledger();
      for (let i = 0; i < 2; i++) expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
      const burst = await engine.check(l, "0.5", budget);
      expect(burst.blocked).toBe(true);
      expect(burst.limit).toBe(budget.limits[0]);
      expect(burst.message).toBe("Budget exceeded: 1.0 + 0.5 > 1 (60 s limit)");
      expect(burst.limits.map((part) => [part.spent.toString(), part.remaining.toString(), part.blocked])).toEqual([
        ["1.0", "0.0", true],
        ["1.0", "1.5", false],
        ["1.0", "9.0", false],
      ]);
      expect(burst.resetsAt).toBe(utc(2026, 3, 7, 12) + 60);
      for (let i = 0; i < 3; i++) {
        clock.now += 61; // each spend alone in the burst window
        expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
      }
      clock.now += 61;
      const hourly = await engine.check(l, "0.5", budget);
      expect(hourly.blocked).toBe(true);
      expect(hourly.limit).toBe(budget.limits[1]);
      expect(hourly.remaining.toString()).toBe("0.0");
      expect((await engine.remaining(l, budget)).toString()).toBe("0.0");
      const usage = await engine.usage(l, budget);
      expect(usage.limits.map((part) => part.spent.toString())).toEqual(["0", "2.5", "2.5"]);
    });

    it("charges several ledgers of several limits each on all or none", async () => {
      const { engine, ledger } = rig();
      const tight = new Budget({
        limits: [
          { maxSpend: "5", window: 60 },
          { maxSpend: "1", window: { calendar: "day" } },
        ],
      });
      const loose = new Budget({
        limits: [
          { maxSpend: "5", window: 60 },
          { maxSpend: "5", window: 3600 },
        ],
      });
      const a = ledger("a");
      const b = ledger("b");
      const targets = [
        { ledger: a, budget: loose },
        { ledger: b, budget: tight },
      ];
      expect((await engine.check(targets, "0.75", undefined)).allowed).toBe(true);
      const blocked = await engine.check(targets, "0.5", undefined);
      expect(blocked.blocked).toBe(true);
      expect(blocked.ledger.equals(b)).toBe(true);
      expect(blocked.limit).toBe(tight.limits[1]);
      expect((await engine.spent(a, loose)).toString()).toBe("0.75");
      expect((await engine.usage(b, tight)).limits.map((part) => part.spent.toString())).toEqual(["0.75", "0.75"]);
    });

    it("counts one total for limits that share a window, whatever their amounts", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "3", window: 60 },
          { maxSpend: "2", window: 60 },
        ],
      });
      const l = ledger();
      expect((await engine.check(l, "1.5", budget)).allowed).toBe(true);
      const second = await engine.check(l, "1", budget);
      expect(second.blocked).toBe(true);
      expect(second.limit).toBe(budget.limits[1]);
      expect(second.limits.map((part) => part.spent.toString())).toEqual(["1.5", "1.5"]);
    });

    it("starts a calendar day with nothing spent, exactly at midnight in its time zone", async () => {
      const { engine, clock, ledger } = rig(utc(2026, 3, 7, 20));
      const budget = new Budget({ maxSpend: "1", window: { calendar: "day", timeZone: "Asia/Kolkata" } });
      const l = ledger();
      // Midnight in Kolkata (+05:30) is 18:30 UTC.
      const midnight = utc(2026, 3, 8, 18, 30);
      clock.now = midnight - 0.001;
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      const late = await engine.check(l, "0.01", budget);
      expect(late.blocked).toBe(true);
      expect(late.resetsAt).toBe(midnight);
      clock.now = midnight;
      const fresh = await engine.check(l, "1", budget);
      expect(fresh.allowed).toBe(true);
      expect(fresh.spentInWindow.toString()).toBe("1");
      expect((await engine.check(l, "0.01", budget)).resetsAt).toBe(utc(2026, 3, 9, 18, 30));
    });

    it("keeps calendar days of 23 and 25 hours across daylight-saving changes", async () => {
      const { engine, clock, ledger } = rig(utc(2026, 3, 8, 5, 30));
      const budget = new Budget({ maxSpend: "1", window: { calendar: "day", timeZone: "America/New_York" } });
      const l = ledger();
      // 2026-03-08 in New York runs from 05:00 UTC (EST) to 04:00 UTC the next day (EDT): 23 hours.
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      clock.now = utc(2026, 3, 9, 3, 59);
      expect((await engine.check(l, "1", budget)).resetsAt).toBe(utc(2026, 3, 9, 4));
      clock.now = utc(2026, 3, 9, 4);
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      // 2026-11-01 runs from 04:00 UTC (EDT) to 05:00 UTC the next day (EST): 25 hours.
      const fall = new Ledger(l.namespace, "fall");
      clock.now = utc(2026, 11, 1, 4);
      expect((await engine.check(fall, "1", budget)).allowed).toBe(true);
      clock.now = utc(2026, 11, 2, 4, 30);
      const still = await engine.check(fall, "1", budget);
      expect(still.blocked).toBe(true);
      expect(still.resetsAt).toBe(utc(2026, 11, 2, 5));
    });

    it("resets a month on the 1st in its time zone, and a week on its first day", async () => {
      // Chatham is +13:45 in January: 10:00 UTC on January 31 is 23:45 there.
      const { engine, clock, ledger } = rig(utc(2026, 1, 31, 10));
      const monthly = new Budget({ maxSpend: "1", window: { calendar: "month", timeZone: "Pacific/Chatham" } });
      const weekly = new Budget({ maxSpend: "1", window: { calendar: "week", timeZone: "UTC", weekStartsOn: 0 } });
      const m = ledger("month");
      const w = ledger("week");
      expect((await engine.check(m, "1", monthly)).allowed).toBe(true);
      expect((await engine.check(w, "1", weekly)).allowed).toBe(true);
      const january = await engine.check(m, "1", monthly);
      expect(january.resetsAt).toBe(utc(2026, 1, 31, 10, 15));
      clock.now = utc(2026, 1, 31, 10, 15); // February begins in Chatham
      expect((await engine.check(m, "1", monthly)).allowed).toBe(true);
      expect((await engine.check(w, "1", weekly)).blocked).toBe(true);
      clock.now = utc(2026, 2, 1); // a Sunday: the week that began on 2026-01-25 has ended
      expect((await engine.check(w, "1", weekly)).allowed).toBe(true);
      const blocked = await engine.check(w, "1", weekly);
      expect(blocked.resetsAt).toBe(utc(2026, 2, 8));
    });

    it("says when a rolling window will have room, and null when holds or the amount forbid knowing", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 100 });
      const l = ledger();
      const start = clock.now;
      expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
      clock.now += 10;
      expect((await engine.check(l, "0.5", budget)).allowed).toBe(true);
      expect((await engine.check(l, "0.25", budget)).resetsAt).toBe(start + 110);
      expect((await engine.check(l, "2", budget)).resetsAt).toBeNull();
      const h = ledger("held");
      expect((await engine.reserve(h, "1", budget)).reservation).not.toBeNull();
      expect((await engine.check(h, "0.5", budget)).resetsAt).toBeNull();
      const life = await engine.check(ledger("life"), "2", new Budget({ maxSpend: "1", window: null }));
      expect(life.resetsAt).toBeNull();
    });

    it("lets the store's clock pick the period when the engine's host clock is days off", async () => {
      const engine = new Engine({ store: store() });
      const l = new Ledger(`p${randomUUID().slice(0, 8)}`, "skew");
      const budget = new Budget({ maxSpend: "1", window: { calendar: "day" } });
      const real = Date.now;
      const spy = vi.spyOn(Date, "now").mockImplementation(() => real() + 3 * DAY * 1000);
      try {
        const decision = await engine.check(l, "1", budget);
        expect(decision.allowed).toBe(true);
        const blocked = await engine.check(l, "1", budget);
        expect(blocked.blocked).toBe(true);
        const resetsAt = blocked.resetsAt as number;
        const storeNow = real() / 1000;
        // The day of the store's clock, not of the skewed host: it ends within a day of now.
        expect(resetsAt).toBeGreaterThan(storeNow - 60);
        expect(resetsAt).toBeLessThanOrEqual(storeNow + DAY + 60);
      } finally {
        spy.mockRestore();
      }
    });

    it("records a shadow limit's spend and reports it would have blocked, without blocking", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "10", window: 3600 },
          { maxSpend: "1", window: 3600, shadow: true },
        ],
      });
      const l = ledger();
      expect((await engine.check(l, "0.75", budget)).wouldBlock).toBe(false);
      const over = await engine.check(l, "0.75", budget);
      expect(over.status).toBe(Status.ALLOW);
      expect(over.wouldBlock).toBe(true);
      expect(over.reason).toBe("BUDGET_EXCEEDED");
      expect(over.message).toBe("Shadow limit exceeded, not enforced: 0.75 + 0.75 > 1 (3600 s limit)");
      expect(over.limits.map((part) => [part.spent.toString(), part.blocked, part.enforced])).toEqual([
        ["1.50", false, true],
        ["1.50", true, false],
      ]);
      expect(over.remaining.toString()).toBe("8.50");
      expect(engine.enforce(over)).toBe(over);
      const shadowed = new Budget({ maxSpend: "1", window: 3600, mode: Mode.SHADOW });
      const s = ledger("shadow");
      for (let i = 0; i < 3; i++) expect((await engine.check(s, "0.75", shadowed)).allowed).toBe(true);
      expect((await engine.spent(s, shadowed)).toString()).toBe("2.25");
      // Turning enforcement on needs no migration: the same window, the same spend.
      const enforced = new Budget({ maxSpend: "1", window: 3600 });
      expect((await engine.check(s, "0.01", enforced)).blocked).toBe(true);
    });

    it("announces each alert level once per crossing, commits above their estimate included", async () => {
      const { engine, clock, ledger, events } = rig();
      const budget = new Budget({ maxSpend: "10", window: 100, alerts: [0.5, 0.8, 1] });
      const l = ledger();
      await engine.check(l, "4", budget);
      expect(events).toHaveLength(0);
      await engine.check(l, "1", budget); // 5: 50 % reached exactly
      expect(events.map((e) => e.level)).toEqual([0.5]);
      await engine.check(l, "0.5", budget);
      expect(events).toHaveLength(1);
      const { reservation } = await engine.reserve(l, "1", budget); // 6.5: below 80 %
      expect(events).toHaveLength(1);
      if (reservation === null) throw new Error("the reservation was refused");
      await engine.commit(reservation, "4"); // 9.5: past 80 %, by more than the estimate
      expect(events.map((e) => [e.level, e.spent.toString(), e.operation])).toEqual([
        [0.5, "5", "check"],
        [0.8, "9.5", "commit"],
      ]);
      await engine.check(l, "0.5", budget); // 10: 100 %
      expect((await engine.check(l, "0.01", budget)).blocked).toBe(true);
      expect(events.map((e) => e.level)).toEqual([0.5, 0.8, 1]);
      clock.now += 101; // the window moves on: every level is below again
      await engine.check(l, "9", budget);
      expect(events.map((e) => e.level)).toEqual([0.5, 0.8, 1, 0.5, 0.8]);
      expect(events.every((e) => e.ledger.equals(l) && e.maxSpend.toString() === "10")).toBe(true);
    });

    it("keeps spend when a budget changes mid-period, and counts it in a limit added later", async () => {
      const { engine, clock, ledger } = rig(utc(2026, 5, 10, 12));
      const l = ledger();
      const month = { window: { calendar: "month" as const } };
      const starter = new Budget({
        limits: [
          { maxSpend: "2", window: 3600 },
          { maxSpend: "3", ...month },
        ],
      });
      expect((await engine.check(l, "2", starter)).allowed).toBe(true);
      clock.now += 3601;
      expect((await engine.check(l, "1", starter)).allowed).toBe(true);
      expect((await engine.check(l, "1", starter)).blocked).toBe(true);
      // An upgraded plan: larger amounts on the same windows keep the 3 spent this month.
      const upgraded = new Budget({
        limits: [
          { maxSpend: "20", window: 3600 },
          { maxSpend: "30", ...month },
        ],
      });
      expect((await engine.usage(l, upgraded)).limits.map((part) => part.spent.toString())).toEqual(["1", "3"]);
      // A day limit added now counts the spends of the last hour and more that the store still holds.
      const daily = new Budget({
        limits: [
          { maxSpend: "20", window: 3600 },
          { maxSpend: "30", ...month },
          { maxSpend: "3.5", window: DAY },
        ],
      });
      const first = await engine.check(l, "0.5", daily);
      expect(first.limits.map((part) => part.spent.toString())).toEqual(["1.5", "3.5", "1.5"]);
      // A lifetime limit added after windowed spend counts what the log holds.
      const lifetime = new Budget({
        limits: [
          { maxSpend: "100", window: 3600 },
          { maxSpend: "100", window: null },
        ],
      });
      expect((await engine.usage(l, lifetime)).limits.map((part) => part.spent.toString())).toEqual(["1.5", "1.5"]);
    });

    it("adds every spend to every total a ledger keeps, named in the call or not", async () => {
      const { engine, clock, ledger } = rig(utc(2026, 5, 10, 12));
      const l = ledger();
      const withMonth = new Budget({
        limits: [
          { maxSpend: "100", window: 60 },
          { maxSpend: "5", window: { calendar: "month" } },
        ],
      });
      const withoutMonth = new Budget({ maxSpend: "100", window: 60 });
      expect((await engine.check(l, "1", withMonth)).allowed).toBe(true);
      for (let i = 0; i < 3; i++) {
        clock.now += 3600;
        expect((await engine.check(l, "1", withoutMonth)).allowed).toBe(true);
      }
      clock.now += 3600;
      const back = await engine.check(l, "1.5", withMonth);
      expect(back.blocked).toBe(true);
      expect(back.limits.map((part) => part.spent.toString())).toEqual(["0.0", "4.0"]);
    });

    it("dates nothing earlier than a ledger's newest spend when the clock goes back", async () => {
      const { engine, clock, ledger } = rig();
      const budget = new Budget({ maxSpend: "1", window: 60 });
      const l = ledger();
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      clock.now -= 3600;
      expect((await engine.check(l, "0.5", budget)).blocked).toBe(true);
      clock.now += 3600 + 61;
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    });

    it("admits exactly what the tightest of three limits allows under 200 concurrent callers", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "2.5", window: 60 },
          { maxSpend: "5", window: DAY },
          { maxSpend: "50", window: { calendar: "month", timeZone: "America/New_York" } },
        ],
      });
      const l = ledger();
      const decisions = await Promise.all(Array.from({ length: 200 }, () => engine.check(l, "0.1", budget)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(25);
      expect((await engine.usage(l, budget)).limits.map((part) => part.spent.toString())).toEqual([
        "2.5",
        "2.5",
        "2.5",
      ]);
    });

    it("holds a reservation against every limit and commits into all of them", async () => {
      const { engine, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "1", window: 60 },
          { maxSpend: "3", window: { calendar: "day" } },
        ],
      });
      const l = ledger();
      const { reservation, decision } = await engine.reserve(l, "0.75", budget);
      expect(decision.limits.map((part) => part.spent.toString())).toEqual(["0.75", "0.75"]);
      expect((await engine.check(l, "0.5", budget)).blocked).toBe(true);
      if (reservation === null) throw new Error("the reservation was refused");
      await engine.commit(reservation, "0.25");
      expect((await engine.usage(l, budget)).limits.map((part) => part.spent.toString())).toEqual(["0.25", "0.25"]);
    });

    it("handles sixteen limits on one ledger", async () => {
      const { engine, ledger } = rig();
      const limits = Array.from({ length: 16 }, (_, i) => ({ maxSpend: String(16 - i), window: 60 * (i + 1) }));
      const budget = new Budget({ limits });
      const l = ledger();
      expect((await engine.check(l, "1", budget)).allowed).toBe(true);
      const blocked = await engine.check(l, "0.5", budget);
      expect(blocked.blocked).toBe(true);
      expect(blocked.limit).toBe(budget.limits[15]);
    });

    it("lists every ledger once, a page at a time, with its registered budget", async () => {
      const { engine, ns, ledger } = rig();
      const budget = new Budget({
        limits: [
          { maxSpend: "10", window: 60 },
          { maxSpend: "20", window: null },
        ],
      });
      const names = ["a", "b", "c", "d", "e"].map((p) => ledger("chat", `user:${p}`));
      const other = ledger("embed", "user:a");
      engine.register(names[0] as Ledger, budget);
      for (const [i, l] of names.entries()) await engine.check(l, String(i + 1), budget);
      await engine.check(other, "1", budget);
      const seen: LedgerUsage[] = [];
      for await (const view of engine.ledgers({ namespace: ns, resource: "chat", pageSize: 2 })) seen.push(view);
      expect(seen.map((view) => view.ledger.toString()).sort()).toEqual(names.map(String).sort());
      const first = seen.find((view) => view.ledger.equals(names[0] as Ledger)) as LedgerUsage;
      expect(first.budget).toBe(budget);
      expect(first.limits.map((part) => part.spent.toString())).toEqual(["1", "1"]);
      const unregistered = seen.find((view) => view.ledger.equals(names[4] as Ledger)) as LedgerUsage;
      expect(unregistered.budget).toBeUndefined();
      expect(unregistered.windows.get("r:60")?.toString()).toBe("5");
      expect(unregistered.windows.get("life")?.toString()).toBe("5");
      const all: string[] = [];
      for await (const view of engine.ledgers({ namespace: ns, pageSize: 1 })) all.push(view.ledger.toString());
      expect(all.sort()).toEqual([...names, other].map(String).sort());
      const limited: string[] = [];
      for await (const view of engine.ledgers({ namespace: ns, limit: 3, pageSize: 2 }))
        limited.push(view.ledger.toString());
      expect(limited).toHaveLength(3);
      const byResource: string[] = [];
      for await (const view of engine.ledgers({ resource: "embed", pageSize: 50 })) {
        if (view.ledger.namespace === ns) byResource.push(view.ledger.toString());
      }
      expect(byResource).toEqual([other.toString()]);
    });

    it("lists ledgers whose names hold characters a pattern or a LIKE would read", async () => {
      const { engine, ns } = rig();
      const budget = new Budget({ maxSpend: "10", window: 60 });
      const odd = ["*", "?", "[a]", "%", "_", "\\", "x\\*"].map((r) => new Ledger(ns, r, "p"));
      for (const l of odd) await engine.check(l, "1", budget);
      for (const l of odd) {
        const found: string[] = [];
        for await (const view of engine.ledgers({ namespace: ns, resource: l.resource }))
          found.push(view.ledger.toString());
        expect(found).toEqual([l.toString()]);
      }
    });
  });
}
