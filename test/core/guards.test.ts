import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import {
  ActualCostError,
  Budget,
  BudgetExceededError,
  DEFAULT_RESERVATION_TTL,
  Engine,
  InvalidAmountError,
  Ledger,
  Result,
} from "../../src/index.js";

const budget = new Budget({ maxSpend: "1.00", window: 3600 });

describe("guards", () => {
  it("wrap a function: allowed calls run, blocked calls throw BudgetExceededError without running", async () => {
    const engine = new Engine();
    let runs = 0;
    const ask = engine.guard(new Ledger("openai", "gpt-4o"), budget, { cost: "0.40" })(async (prompt: string) => {
      runs++;
      return `echo ${prompt}`;
    });
    expect(await ask("a")).toBe("echo a");
    expect(await ask("b")).toBe("echo b");
    const error = await ask("c").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).decision.spentInWindow.toString()).toBe("0.80");
    expect(runs).toBe(2);
  });

  it("guard synchronous functions too, keeping `this`", async () => {
    const engine = new Engine();
    const counter = {
      n: 41,
      bump: engine.guard(new Ledger("x", "y"), budget, { cost: 0 })(function (this: { n: number }) {
        return ++this.n;
      }),
    };
    expect(await counter.bump()).toBe(42);
  });

  it("resolve the ledger and cost from the call's arguments", async () => {
    const engine = new Engine();
    const ask = engine.guard((user: string) => new Ledger("openai", "gpt-4o", `user:${user}`), budget, {
      cost: (_user: string, tokens: number) => tokens / 1000,
    })(async (user: string, tokens: number) => `${user}:${tokens}`);
    expect(await ask("ann", 900)).toBe("ann:900");
    await expect(ask("ann", 200)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(await ask("bob", 1000)).toBe("bob:1000");
    expect((await engine.spent(new Ledger("openai", "gpt-4o", "user:ann"), budget)).toString()).toBe("0.90");
  });

  it("use the registered budget when given undefined", async () => {
    const ledger = new Ledger("a", "b");
    const engine = new Engine({ budgets: [[ledger, new Budget({ maxSpend: 1 })]] });
    const f = engine.guard(ledger, undefined, { cost: 1 })(() => "ran");
    expect(await f()).toBe("ran");
    await expect(f()).rejects.toBeInstanceOf(BudgetExceededError);
  });

  it("guardResult returns a Result instead of throwing; undefined is still a value", async () => {
    const engine = new Engine();
    const f = engine.guardResult(new Ledger("a", "b"), budget, { cost: "0.6" })(async () => undefined);
    const first = await f();
    expect(first).toBeInstanceOf(Result);
    expect(first.ok).toBe(true);
    expect(first.hasValue).toBe(true);
    expect(first.value).toBeUndefined();
    const second = await f();
    expect(second.ok).toBe(false);
    expect(second.hasValue).toBe(false);
    expect(second.unwrapOr("fallback")).toBe("fallback");
    expect(() => second.unwrap()).toThrow(BudgetExceededError);
  });

  it("guardBounded reserves the estimate, then commits the actual cost from the result", async () => {
    const engine = new Engine();
    const ledger = new Ledger("anthropic", "claude", "user:1");
    const call = engine.guardBounded(ledger, budget, {
      estimate: "0.50",
      actual: (reply: { cost: string }) => reply.cost,
    })(async (cost: string) => ({ cost }));
    expect(await call("0.10")).toEqual({ cost: "0.10" });
    expect((await engine.spent(ledger, budget)).toString()).toBe("0.10");
    await call("0.30");
    expect((await engine.spent(ledger, budget)).toString()).toBe("0.40");
    await call("0.50");
    await expect(call("0.01")).rejects.toBeInstanceOf(BudgetExceededError); // 0.90 + 0.50 > 1.00
  });

  it("run the function within the call on a synchronous store, and turn what it or the check throws into a rejection", async () => {
    const engine = new Engine();
    const ledger = new Ledger("a", "sync");
    const boom = new Error("thrown synchronously");
    let ran = false;
    const fine = engine.guard(ledger, budget, { cost: "0.10" })(() => {
      ran = true;
      return "done";
    });
    const pending = fine();
    expect(ran).toBe(true); // the memory store decided at once: the function ran as a direct call would
    expect(await pending).toBe("done");
    const throwing = engine.guard(ledger, budget, { cost: "0.10" })(() => {
      throw boom;
    });
    const rejected = throwing(); // must not throw here
    await expect(rejected).rejects.toBe(boom);
    // The cost was recorded before the function ran, as a check records it.
    expect((await engine.spent(ledger, budget)).toString()).toBe("0.20");
    const badCost = engine.guard(ledger, budget, { cost: () => "-1" })(() => "never");
    await expect(badCost()).rejects.toBeInstanceOf(InvalidAmountError);
  });

  it("guardBounded releases the hold and rethrows when the function throws", async () => {
    const engine = new Engine();
    const ledger = new Ledger("a", "b");
    const boom = new Error("provider down");
    const call = engine.guardBounded(ledger, budget, { estimate: "0.9", actual: () => "0.1" })(async () => {
      throw boom;
    });
    await expect(call()).rejects.toBe(boom);
    expect((await engine.spent(ledger, budget)).isZero()).toBe(true);
  });

  it("guardBoundedResult returns a blocked Result when the estimate does not fit", async () => {
    const engine = new Engine();
    const call = engine.guardBoundedResult(new Ledger("a", "b"), budget, { estimate: "2", actual: () => 1 })(
      async () => "never",
    );
    const result = await call();
    expect(result.ok).toBe(false);
    expect(result.decision.message).toBe("Budget exceeded: 0.00 + 2 > 1.00");
  });

  it("charge a user and an organisation together", async () => {
    const engine = new Engine();
    const org = new Ledger("openai", "gpt-4o", "org:acme");
    engine.register(org, new Budget({ maxSpend: "1.50" }));
    const ask = engine.guard(
      (user: string) => [{ ledger: new Ledger("openai", "gpt-4o", `user:${user}`), budget }, org],
      undefined,
      { cost: "0.60" },
    )(async (user: string) => user);
    expect(await ask("a")).toBe("a");
    expect(await ask("b")).toBe("b");
    const error = (await ask("c").catch((e: unknown) => e)) as BudgetExceededError;
    expect(error.decision.ledger.equals(org)).toBe(true);
    expect((await engine.spent(new Ledger("openai", "gpt-4o", "user:c"), budget)).isZero()).toBe(true);
  });

  it("work as TypeScript 5 method decorators (compiled by tsc)", async () => {
    const source = readFileSync(new URL("../support/decorated-agent.ts", import.meta.url), "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
    });
    const dir = mkdtempSync(join(tmpdir(), "budgetgate-decorators-"));
    const file = join(dir, "agent.mjs");
    writeFileSync(file, outputText);
    const { makeAgent } = (await import(pathToFileURL(file).href)) as typeof import("../support/decorated-agent.js");
    rmSync(dir, { recursive: true });

    const engine = new Engine();
    const agent = makeAgent(engine, new Ledger("tools", "search"), (user) => new Ledger("tools", "llm", user), budget);
    expect(await agent.search("x")).toBe("results for x");
    expect(await agent.search("y")).toBe("results for y");
    await expect(agent.search("z")).rejects.toBeInstanceOf(BudgetExceededError);
    expect(agent.calls).toBe(2);
    expect(await agent.think("u1", 3)).toBe(3);
    expect((await engine.spent(new Ledger("tools", "llm", "u1"), budget)).toString()).toBe("0.30");
  });

  it("admit exactly as many of 1,000 concurrent guarded calls as the budget allows", async () => {
    const engine = new Engine();
    let ran = 0;
    const f = engine.guardResult(new Ledger("load", "test"), new Budget({ maxSpend: "10.00" }), { cost: "0.03" })(
      async () => {
        await new Promise((resolve) => setImmediate(resolve));
        ran++;
      },
    );
    const results = await Promise.all(Array.from({ length: 1000 }, () => f()));
    expect(results.filter((r) => r.ok).length).toBe(333);
    expect(ran).toBe(333);
  });

  it("reject bad guard options when the guard is made", () => {
    const engine = new Engine();
    expect(() => engine.guard(new Ledger("a", "b"), budget, {} as never)).toThrow(/cost/);
    expect(() => engine.guardBounded(new Ledger("a", "b"), budget, { estimate: 1 } as never)).toThrow(/actual/);
    expect(() => engine.guard(new Ledger("a", "b"), budget, { cost: 1 })("nope" as never)).toThrow(/function/);
  });
});

describe("bounded guards whose actual fails after the action ran", () => {
  const noUsage = new Error("no usage in reply");
  const failures: [string, () => unknown, RegExp][] = [
    [
      "throws",
      () => {
        throw noUsage;
      },
      /^actual\(result\) threw \(Error: no usage in reply\)/,
    ],
    ["rejects", () => Promise.reject(noUsage), /^actual\(result\) threw \(Error: no usage in reply\)/],
    ["returns NaN", () => Number.NaN, /^actual\(result\) returned an invalid amount \(Invalid amount NaN: /],
    ["returns a negative amount", () => -0.2, /^actual\(result\) returned an invalid amount \(Invalid amount -0\.2: /],
    [
      "returns a string that is no amount",
      () => "abc",
      /^actual\(result\) returned an invalid amount \(Invalid amount "abc": /,
    ],
    ["returns nothing", () => undefined, /^actual\(result\) returned an invalid amount \(Invalid amount undefined: /],
  ];

  /** An engine on its own clock: past the TTL an unsettled hold no longer counts, a commit does. */
  function setup() {
    let now = 0;
    const engine = new Engine({ clock: () => now });
    const ledger = new Ledger("anthropic", "claude", "user:1");
    const afterTtl = () => {
      now += DEFAULT_RESERVATION_TTL + 1;
    };
    return { engine, ledger, afterTtl, spent: () => engine.spent(ledger, budget) };
  }

  describe.each(["guardBounded", "guardBoundedResult"] as const)("%s", (method) => {
    it.each(failures)(
      "records the estimate and throws ActualCostError carrying the result when actual %s",
      async (_, actual, message) => {
        const { engine, ledger, afterTtl, spent } = setup();
        const reply = { text: "the answer" };
        let runs = 0;
        const action = async () => {
          runs++;
          return reply;
        };
        const options = { estimate: "0.90", actual: actual as () => string };
        const call: () => Promise<unknown> =
          method === "guardBounded"
            ? engine.guardBounded(ledger, budget, options)(action)
            : engine.guardBoundedResult(ledger, budget, options)(action);
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );

        expect(error).toBeInstanceOf(ActualCostError);
        const failure = error as ActualCostError;
        expect(failure.message).toMatch(message);
        expect(failure.message).toMatch(
          /the action ran, so its estimate 0\.90 was committed in its place; the result is on error\.result$/,
        );
        expect(failure.result).toBe(reply);
        expect(failure.settlement.recorded.toString()).toBe("0.90");
        expect(runs).toBe(1);
        afterTtl();
        expect((await spent()).toString()).toBe("0.90");
      },
    );
  });

  it("keeps what actual threw, or the InvalidAmountError for what it returned, as the cause", async () => {
    const { engine, ledger } = setup();
    const thrown = engine.guardBounded(ledger, budget, {
      estimate: "0.10",
      actual: () => {
        throw noUsage;
      },
    })(async () => "done");
    expect(((await thrown().catch((e: unknown) => e)) as ActualCostError).cause).toBe(noUsage);

    const garbage = engine.guardBoundedResult(ledger, budget, { estimate: "0.10", actual: () => "abc" })(
      async () => "done",
    );
    const cause = ((await garbage().catch((e: unknown) => e)) as ActualCostError).cause;
    expect(cause).toBeInstanceOf(InvalidAmountError);
    expect((cause as InvalidAmountError).value).toBe("abc");
  });

  it("still releases the hold when the action itself throws, without calling actual", async () => {
    const { engine, ledger, spent } = setup();
    let asked = 0;
    const boom = new Error("provider down");
    const call = engine.guardBoundedResult(ledger, budget, {
      estimate: "0.90",
      actual: () => {
        asked++;
        return "0.1";
      },
    })(async () => {
      throw boom;
    });
    await expect(call()).rejects.toBe(boom);
    expect(asked).toBe(0);
    expect((await spent()).isZero()).toBe(true);
  });
});
