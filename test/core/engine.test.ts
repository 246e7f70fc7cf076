import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Amount,
  BlockReason,
  Budget,
  BudgetExceeded,
  BudgetExceededError,
  BudgetGateError,
  ConfigurationError,
  type Decision,
  Engine,
  InvalidAmountError,
  InvalidBudgetError,
  InvalidLedgerError,
  Ledger,
  MAX_LEDGER_KEY_BYTES,
  MemoryStore,
  Mode,
  ReservationNotFoundError,
  StateError,
  Status,
  StoreError,
  StoreErrorMode,
  StoreTimeoutError,
} from "../../src/index.js";
import type { Store, StoreCall } from "../../src/store.js";
import { validateDecision } from "../support/decision-schema.js";
import { FaultyStore } from "../support/faulty-store.js";

const budget = new Budget({ maxSpend: "10.00", window: 3600 });
const ledger = new Ledger("openai", "gpt-4o", "user:123");

describe("Ledger", () => {
  it("prints namespace:resource@principal and parses it back", () => {
    expect(ledger.toString()).toBe("openai:gpt-4o@user:123");
    expect(Ledger.parse("openai:gpt-4o@user:123").equals(ledger)).toBe(true);
    expect(new Ledger("a", "b").principal).toBe("global");
    expect(new Ledger("a", "b").equals(new Ledger("a", "b", "global"))).toBe(true);
    expect(new Ledger("a", "b", "x").equals(new Ledger("a", "b", "y"))).toBe(false);
  });

  it("has an unambiguous string form: separator-laden fields never collide", () => {
    const a = new Ledger("a", "b:c", "x");
    const b = new Ledger("a", "b", "c:x");
    expect(a.toString()).not.toBe(b.toString());
    expect(Ledger.parse(a.toString()).resource).toBe("b:c");
    expect(Ledger.parse(b.toString()).principal).toBe("c:x");
  });

  it.each([
    [["", "r"], /namespace "": expected a non-empty string/],
    [["n", ""], /resource "": expected a non-empty string/],
    [["n", "r", ""], /principal "": expected a non-empty string/],
    [["a:b", "r"], /namespace "a:b": it may not contain ":" or "@"/],
    [["a@b", "r"], /namespace "a@b"/],
    [["n", "r@x"], /resource "r@x": it may not contain "@"/],
    [[1, "r"], /namespace 1: expected a non-empty string/],
    [["n", null], /resource null/],
    [["a\nb", "r"], /namespace "a\\nb": it may not contain a line break \(U\+000A\)/],
    [["n", "r\r"], /resource "r\\r": it may not contain a line break \(U\+000D\)/],
    [["n", "r", "user:1\n"], /principal "user:1\\n": it may not contain a line break \(U\+000A\)/],
    [["n", "r", "x\u2028y"], /principal "x\u2028y": it may not contain a line break \(U\+2028\)/],
    [["n", "r", "\u2029"], /principal "\u2029": it may not contain a line break \(U\+2029\)/],
  ])("rejects %j with InvalidLedgerError", (args, message) => {
    expect(() => new Ledger(...(args as [string, string, string]))).toThrow(InvalidLedgerError);
    expect(() => new Ledger(...(args as [string, string, string]))).toThrow(message);
  });

  it("refuses a name over MAX_LEDGER_KEY_BYTES of UTF-8, naming its length and the limit", () => {
    expect(MAX_LEDGER_KEY_BYTES).toBe(1024);
    const fill = (bytes: number) => "x".repeat(bytes - "n:r@".length);
    expect(new Ledger("n", "r", fill(1024)).toString()).toHaveLength(1024);
    expect(() => new Ledger("n", "r", fill(1025))).toThrow(InvalidLedgerError);
    expect(() => new Ledger("n", "r", fill(1025))).toThrow(/1025 bytes of UTF-8, over the limit of 1024/);
    expect(() => Ledger.parse(`n:r@${fill(3000)}`)).toThrow(/3000 bytes of UTF-8/);
    // é is 2 bytes, 😀 4 (two UTF-16 units), a lone surrogate 3 (sent as U+FFFD).
    const wide = `${"é".repeat(300)}${"😀".repeat(50)}${"\uD800".repeat(73)}`;
    expect(new Ledger("n", "r", `${wide}x`).toString()).toHaveLength(4 + 300 + 100 + 73 + 1);
    expect(() => new Ledger("n", "r", `${wide}xx`)).toThrow(/1025 bytes/);
    expect(() => new Ledger("n", "r", `${wide}é`)).toThrow(/1025 bytes/);
    // The last lone surrogate and a low one pair up: 4 bytes, not 3 + 3.
    expect(new Ledger("n", "r", `${wide}\uDC00`).principal).toHaveLength(474);
  });
});

describe("Budget", () => {
  it("defaults to an hour, HARD, FAIL_CLOSED", () => {
    const b = new Budget({ maxSpend: "5" });
    expect(b.window).toBe(3600);
    expect(b.mode).toBe(Mode.HARD);
    expect(b.onStoreError).toBe(StoreErrorMode.FAIL_CLOSED);
    expect(new Budget({ maxSpend: 1, window: null }).window).toBeNull();
  });

  it.each([
    [{ maxSpend: "-1" }, /maxSpend.*zero or more/],
    [{ maxSpend: "abc" }, /maxSpend.*plain decimal/],
    [{ maxSpend: Number.NaN }, /maxSpend/],
    [{}, /maxSpend/],
    [{ maxSpend: 1, window: 0 }, /window 0: expected a number of seconds above 0 and at most/],
    [{ maxSpend: 1, window: -5 }, /window -5/],
    [{ maxSpend: 1, window: Number.POSITIVE_INFINITY }, /window Infinity/],
    [{ maxSpend: 1, window: "60" }, /window "60"/],
    [{ maxSpend: 1, mode: "hard" }, /mode "hard": expected "HARD", "SOFT" or "SHADOW"/],
    [{ maxSpend: 1, onStoreError: "OPEN" }, /onStoreError "OPEN"/],
  ])("rejects %j with InvalidBudgetError", (options, message) => {
    expect(() => new Budget(options as never)).toThrow(InvalidBudgetError);
    expect(() => new Budget(options as never)).toThrow(message);
  });
});

describe("Decision", () => {
  it("serialises allow, budget-block and store-error decisions to the schema's record", async () => {
    const engine = new Engine();
    const small = new Budget({ maxSpend: "0.05" });
    const allow = await engine.check(ledger, "0.03", small);
    const block = await engine.check(ledger, "0.03", small);
    const store = new FaultyStore();
    store.mode = "throw";
    const failed = await new Engine({ store }).check(ledger, "0.03", small);
    for (const decision of [allow, block, failed]) {
      const record = JSON.parse(JSON.stringify(decision));
      expect(validateDecision(record), JSON.stringify(validateDecision.errors)).toBe(true);
      expect(record).toEqual(decision.toJSON());
    }
    expect(allow.toJSON()).toEqual({
      schema_version: "0.2.2",
      status: "ALLOW",
      ledger: "openai:gpt-4o@user:123",
      reason: null,
      message: null,
      spent_in_window: "0.03",
      requested: "0.03",
      remaining: "0.02",
    });
    expect(block.toJSON()).toMatchObject({
      status: "BLOCK",
      reason: "BUDGET_EXCEEDED",
      message: "Budget exceeded: 0.03 + 0.03 > 0.05",
      spent_in_window: "0.03",
      remaining: "0.02",
    });
    expect(failed.toJSON()).toMatchObject({ status: "BLOCK", reason: "STORE_ERROR" });
  });

  it("reports the spend at decision time, as the original does: an allow includes what it recorded", async () => {
    const engine = new Engine();
    const first = await engine.check(ledger, "0.03", budget);
    expect([first.spentInWindow.toString(), first.remaining.toString()]).toEqual(["0.03", "9.97"]);
    const big = await engine.check(ledger, "9.98", budget);
    expect(big.toJSON()).toMatchObject({ status: "BLOCK", spent_in_window: "0.03", remaining: "9.97" });
    const last = await engine.check(ledger, "9.97", budget);
    expect(last.toJSON()).toMatchObject({ status: "ALLOW", spent_in_window: "10.00", remaining: "0.00" });
    const over = await engine.check(ledger, "0.01", budget);
    expect(over.toJSON()).toMatchObject({ status: "BLOCK", spent_in_window: "10.00", remaining: "0.00" });

    const held = new Ledger("openai", "gpt-4o", "user:held");
    const { decision: hold } = await engine.reserve(held, "0.50", budget);
    expect([hold.spentInWindow.toString(), hold.remaining.toString()]).toEqual(["0.50", "9.50"]);
    const { decision: refused } = await engine.reserve(held, "9.51", budget);
    expect([refused.status, refused.spentInWindow.toString(), refused.remaining.toString()]).toEqual([
      "BLOCK",
      "0.50",
      "9.50",
    ]);
  });

  it("reports each ledger of a several-ledger call at decision time; none recorded when one blocked", async () => {
    const engine = new Engine();
    const user = { ledger: new Ledger("openai", "gpt-4o", "user:1"), budget: new Budget({ maxSpend: "1.00" }) };
    const org = { ledger: new Ledger("openai", "gpt-4o", "org"), budget: new Budget({ maxSpend: "5.00" }) };
    const spentAndLeft = (d: Decision) => d.perLedger.map((p) => `${p.status} ${p.spentInWindow} ${p.remaining}`);
    const allowed = await engine.check([user, org], "0.60");
    expect(spentAndLeft(allowed)).toEqual(["ALLOW 0.60 0.40", "ALLOW 0.60 4.40"]);
    expect(allowed.toJSON()).toMatchObject({ ledger: "openai:gpt-4o@user:1", spent_in_window: "0.60" });
    const blocked = await engine.check([org, user], "0.60");
    expect(spentAndLeft(blocked)).toEqual(["ALLOW 0.60 4.40", "BLOCK 0.60 0.40"]);
    expect(blocked.toJSON()).toMatchObject({ ledger: "openai:gpt-4o@user:1", spent_in_window: "0.60" });
    const { decision: held } = await engine.reserve([user, org], "0.40");
    expect(spentAndLeft(held)).toEqual(["ALLOW 1.00 0.00", "ALLOW 1.00 4.00"]);
  });

  it("gives a schema-valid record for every ledger the constructor accepts", async () => {
    const engine = new Engine();
    const small = new Budget({ maxSpend: "1" });
    const tricky = fc.constantFrom(":", "@", "\n", "\r", "\u2028", "\u2029", "\\", "\u0000", "\uD800", "\uDC00", "é");
    const char = fc.oneof(
      { arbitrary: tricky, weight: 1 },
      { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), weight: 4 },
    );
    const field = fc.string({ unit: char, maxLength: 12 });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(field, field, field, async (namespace, resource, principal) => {
        let made: Ledger;
        try {
          made = new Ledger(namespace, resource, principal);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidLedgerError);
          return;
        }
        accepted++;
        const record = (await engine.check(made, "0.01", small)).toJSON();
        expect(
          validateDecision(record),
          `${JSON.stringify(record.ledger)}: ${JSON.stringify(validateDecision.errors)}`,
        ).toBe(true);
        expect(Ledger.parse(record.ledger).equals(made)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it("has enum values equal to their names", () => {
    expect(Status.ALLOW).toBe("ALLOW");
    expect(Status.BLOCK).toBe("BLOCK");
    expect(BlockReason.STORE_ERROR).toBe("STORE_ERROR");
    expect(Mode.SOFT).toBe("SOFT");
    expect(StoreErrorMode.FAIL_OPEN).toBe("FAIL_OPEN");
  });
});

describe("Engine", () => {
  it("refuses a ledger with no budget rather than allowing unlimited spend", async () => {
    const engine = new Engine();
    await expect(engine.check(ledger, "0.01")).rejects.toThrow(ConfigurationError);
    await expect(engine.check(ledger, "0.01")).rejects.toThrow(/No budget for ledger openai:gpt-4o@user:123/);
    await expect(engine.reserve(ledger, "0.01")).rejects.toThrow(ConfigurationError);
    engine.register(ledger, budget);
    expect(engine.budgetFor(ledger)).toBe(budget);
    expect((await engine.check(ledger, "0.01")).allowed).toBe(true);
  });

  it("rejects bad input with a typed error and leaves the store unchanged", async () => {
    const engine = new Engine();
    engine.register(ledger, budget);
    await engine.check(ledger, "1.00");
    const bad: unknown[] = [
      -1,
      "-0.01",
      Number.NaN,
      Number.POSITIVE_INFINITY,
      "1e2",
      "0.0000000000000000001",
      null,
      {},
    ];
    for (const amount of bad) {
      await expect(engine.check(ledger, amount as never)).rejects.toBeInstanceOf(InvalidAmountError);
      await expect(engine.reserve(ledger, amount as never)).rejects.toBeInstanceOf(InvalidAmountError);
    }
    await expect(engine.check([], "1")).rejects.toBeInstanceOf(ConfigurationError);
    await expect(engine.check([ledger, ledger], "1")).rejects.toThrow(/listed twice/);
    await expect(engine.check("openai:gpt-4o@user:123" as never, "1")).rejects.toBeInstanceOf(ConfigurationError);
    await expect(engine.check(ledger, "1", { maxSpend: 5 } as never)).rejects.toBeInstanceOf(ConfigurationError);
    const { reservation } = await engine.reserve(ledger, "1");
    if (!reservation) throw new Error("expected a reservation");
    await expect(engine.commit(reservation, "-1")).rejects.toBeInstanceOf(InvalidAmountError);
    await expect(engine.commit({ id: "x" } as never, "1")).rejects.toBeInstanceOf(ConfigurationError);
    expect((await engine.spent(ledger)).toString()).toBe("2.00"); // the first check and the live hold only
    await engine.release(reservation);
    expect((await engine.spent(ledger)).toString()).toBe("1.00");
  });

  it("checks engine options", () => {
    expect(() => new Engine({ storeTimeoutMs: 0 })).toThrow(/storeTimeoutMs 0/);
    expect(() => new Engine({ reservationTtl: -1 })).toThrow(/reservationTtl -1/);
    expect(() => new Engine({ clock: 5 as never })).toThrow(/clock 5/);
  });

  it("reports remaining and spent", async () => {
    const engine = new Engine({ budgets: [[ledger, budget]] });
    await engine.check(ledger, "0.03");
    expect((await engine.remaining(ledger)).toString()).toBe("9.97");
    expect((await engine.spent(ledger)).toString()).toBe("0.03");
    await engine.clearAll();
    expect((await engine.remaining(ledger)).toString()).toBe("10.00");
  });

  it("enforce throws only for a blocked decision under a HARD budget", async () => {
    const engine = new Engine();
    const hard = new Budget({ maxSpend: "0.01" });
    const soft = new Budget({ maxSpend: "0.01", mode: Mode.SOFT });
    const blockedHard = await engine.check(new Ledger("a", "hard"), "1", hard);
    const blockedSoft = await engine.check(new Ledger("a", "soft"), "1", soft);
    const allowed = await engine.check(new Ledger("a", "ok"), "0.01", hard);
    expect(() => engine.enforce(blockedHard)).toThrow(BudgetExceededError);
    expect(engine.enforce(blockedSoft)).toBe(blockedSoft);
    expect(engine.enforce(allowed)).toBe(allowed);
    try {
      engine.enforce(blockedHard);
    } catch (error) {
      expect(error).toBeInstanceOf(BudgetExceeded);
      expect(error).toBeInstanceOf(BudgetGateError);
      expect((error as BudgetExceededError).decision).toBe(blockedHard);
    }
  });

  it("fails closed on a store error: BLOCK with reason STORE_ERROR", async () => {
    const store = new FaultyStore();
    const engine = new Engine({ store });
    store.mode = "throw";
    const decision = await engine.check(ledger, "0.01", budget);
    expect(decision.status).toBe(Status.BLOCK);
    expect(decision.reason).toBe(BlockReason.STORE_ERROR);
    expect(decision.message).toMatch(/^Store error \(fail-closed\): .*connection refused/);
    const { reservation } = await engine.reserve(ledger, "0.01", budget);
    expect(reservation).toBeNull();
  });

  it("fails open when the budget says so: ALLOW with reason STORE_ERROR", async () => {
    const store = new FaultyStore();
    const engine = new Engine({ store });
    const open = new Budget({ maxSpend: "1", onStoreError: StoreErrorMode.FAIL_OPEN });
    store.mode = "throw";
    const decision = await engine.check(ledger, "0.01", open);
    expect(decision.status).toBe(Status.ALLOW);
    expect(decision.reason).toBe(BlockReason.STORE_ERROR);
    expect(decision.message).toMatch(/^Store error \(fail-open\): /);
    const { reservation } = await engine.reserve(ledger, "0.5", open);
    if (!reservation) throw new Error("a fail-open reserve still hands out a reservation");
    expect(reservation.held).toBe(false);
    store.mode = "ok";
    expect((await engine.commit(reservation, "0.5")).recorded.isZero()).toBe(true);
    expect((await engine.spent(ledger, open)).isZero()).toBe(true);
    await expect(engine.commit(reservation, "0.5")).rejects.toBeInstanceOf(ReservationNotFoundError);
  });

  it("throws, even under FAIL_OPEN, a store answer that contradicts itself: a broken store is not an outage", async () => {
    const open = new Budget({ maxSpend: "1", onStoreError: StoreErrorMode.FAIL_OPEN });
    const answers = [
      { allowed: true, lines: [{ committed: [10n ** 18n], reserved: 0n, newest: 1 }], now: 1 }, // allowed, yet full
      { allowed: false, lines: [{ committed: [0n], reserved: 0n, newest: null }], now: 1 }, // blocked, yet empty
      { allowed: true, lines: [], now: 1 }, // an answer for no ledger
      { allowed: true, lines: [{ committed: [], reserved: 0n, newest: null }], now: 1 }, // for no limit
    ];
    for (const answer of answers) {
      const liar: Store = { ...new MemoryStore(), charge: () => answer } as unknown as Store;
      const engine = new Engine({ store: liar });
      const seen: Decision[] = [];
      engine.onDecision((d) => seen.push(d));
      await expect(engine.check(ledger, "0.5", open)).rejects.toBeInstanceOf(StateError);
      expect(seen).toEqual([]);
    }
  });

  it("blocks when any ledger of a charge fails closed", async () => {
    const store = new FaultyStore();
    const engine = new Engine({ store });
    store.mode = "throw";
    const open = { ledger: new Ledger("a", "open"), budget: new Budget({ maxSpend: 1, onStoreError: "FAIL_OPEN" }) };
    const closed = { ledger: new Ledger("a", "closed"), budget: new Budget({ maxSpend: 1 }) };
    const decision = await engine.check([open, closed], "0.1");
    expect(decision.blocked).toBe(true);
    expect(decision.ledger.equals(closed.ledger)).toBe(true);
    expect(decision.perLedger.map((d) => d.status)).toEqual(["ALLOW", "BLOCK"]);
  });

  it("treats a store that does not answer within the timeout as failed, and aborts its call", async () => {
    const store = new FaultyStore();
    const engine = new Engine({ store, storeTimeoutMs: 50 });
    store.mode = "hang";
    const started = performance.now();
    const decision = await engine.check(ledger, "0.01", budget);
    const elapsed = performance.now() - started;
    expect(decision.blocked).toBe(true);
    expect(decision.reason).toBe(BlockReason.STORE_ERROR);
    expect(decision.message).toMatch(/did not answer within 50 ms/);
    expect(elapsed).toBeLessThan(5000); // it returned: the agent did not hang on its store
    expect(store.aborted).toBe(1);
    await expect(engine.spent(ledger, budget)).rejects.toBeInstanceOf(StoreTimeoutError);
    await expect(engine.clearAll()).rejects.toBeInstanceOf(StoreError);
    store.mode = "slow";
    expect((await engine.check(ledger, "0.01", budget)).allowed).toBe(true);
  });

  it("hands a store that first looks at its call's signal after the timeout an aborted signal", async () => {
    let late: StoreCall | undefined;
    const inner = new MemoryStore();
    const slow: Store = {
      charge: (_lines, _amount, call) => {
        late = call; // keeps the call, but does not look at its signal yet
        return new Promise<never>(() => {});
      },
      reserve: (lines, amount, hold, call) => inner.reserve(lines, amount, hold, call),
      commit: (id, lines, actual, call) => inner.commit(id, lines, actual, call),
      release: (id, lines, call) => inner.release(id, lines, call),
      read: (line, call) => inner.read(line, call),
      scan: (query, call) => inner.scan(query, call),
      clear: (l, call) => inner.clear(l, call),
      clearAll: (call) => inner.clearAll(call),
    };
    const engine = new Engine({ store: slow, storeTimeoutMs: 20 });
    expect((await engine.check(ledger, "0.01", budget)).reason).toBe(BlockReason.STORE_ERROR);
    expect(late?.signal.aborted).toBe(true);
    expect(late?.signal.reason).toBeInstanceOf(StoreTimeoutError);
  });

  it("throws StoreError from commit when the store fails, keeping the hold", async () => {
    const store = new FaultyStore();
    const engine = new Engine({ store });
    const { reservation } = await engine.reserve(ledger, "1", budget);
    if (!reservation) throw new Error("expected a reservation");
    store.mode = "throw";
    await expect(engine.commit(reservation, "0.5")).rejects.toBeInstanceOf(StoreError);
    store.mode = "ok";
    expect((await engine.spent(ledger, budget)).toString()).toBe("1.00");
    await engine.commit(reservation, "0.5");
    expect((await engine.spent(ledger, budget)).toString()).toBe("0.50");
  });

  it("tells listeners of every decision; their errors never break a decision", async () => {
    const engine = new Engine({ budgets: [[ledger, new Budget({ maxSpend: "0.05" })]] });
    const seen: Decision[] = [];
    const stop = engine.onDecision((d) => seen.push(d));
    engine.onDecision(() => {
      throw new Error("listener bug");
    });
    engine.onDecision(async () => {
      throw new Error("async listener bug");
    });
    const a = await engine.check(ledger, "0.03");
    const b = await engine.check(ledger, "0.03");
    const { decision: c } = await engine.reserve(ledger, "0.01");
    expect(seen).toEqual([a, b, c]);
    expect(a.allowed && b.blocked && c.allowed).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.listenerErrors).toBe(6);
    stop();
    await engine.check(ledger, "0.001");
    expect(seen).toHaveLength(3);
  });

  it("reports per-ledger decisions with amounts as Amounts", async () => {
    const engine = new Engine();
    const d = await engine.check(ledger, 0.1, budget);
    expect(d.requested).toBeInstanceOf(Amount);
    expect(d.perLedger).toEqual([d]);
    expect(d.remaining.toString()).toBe("9.90");
  });
});
