import { createRequire } from "node:module";
import type { LanguageModelV3Middleware } from "@ai-sdk/provider";
import type { LanguageModelV2Middleware } from "@ai-sdk/provider-v2";
import type { LanguageModelV4Middleware } from "@ai-sdk/provider-v4";
import type { LanguageModelMiddleware as AiSdk7Middleware } from "ai-v7";
import { Amount, Budget, BudgetExceededError, Engine, Ledger, type Settlement } from "budgetgate";
import {
  type BudgetMiddlewareOptions,
  budgetMiddleware,
  type ModelCall,
  type SettleEvent,
  type TokenPrices,
  tokenCost,
} from "budgetgate/ai-sdk";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { expectSettledBeforeCancel, STUBBORN_CANCELS, ttlClock } from "./support/cancel.js";
import { AI_SDK_7_NODE, aiSdkFlavors, type Counts, DEFAULT_COUNTS, type Flavor, v6 } from "./support/models.js";

const PRICES: TokenPrices = { input: "2.50", output: "10.00", cachedInput: "1.25", cacheWrite: "3.125" };
const ESTIMATE = "0.05";
const costOf = (c: Counts) =>
  tokenCost(
    {
      inputTokens: c.input,
      outputTokens: c.output,
      cachedInputTokens: c.cached,
      cacheWriteTokens: c.cacheWrite,
      reasoningTokens: c.reasoning,
    },
    PRICES,
  );

const userOf = (call: ModelCall) => String(call.params.providerOptions?.budgetgate?.userId ?? "anonymous");
const userLedger = (user: string) => new Ledger("mock", "mock-model", `user:${user}`);
const orgLedger = new Ledger("mock", "mock-model", "org:acme");

/** An engine on a clock of its own, a middleware over it, and a log of its settlements. */
function setup(overrides: Partial<BudgetMiddlewareOptions> = {}, userBudget = "1.00") {
  const { clock, afterTtl } = ttlClock();
  const engine = new Engine({ clock });
  const budget = new Budget({ maxSpend: userBudget, window: 3600 });
  const events: SettleEvent<ModelCall>[] = [];
  const waiters: (() => void)[] = [];
  const middleware = budgetMiddleware({
    engine,
    ledger: (call) => userLedger(userOf(call)),
    budget,
    estimate: ESTIMATE,
    prices: PRICES,
    onSettle: (event) => {
      events.push(event);
      for (const wake of waiters.splice(0)) wake();
    },
    ...overrides,
  });
  const spent = (ledger: Ledger = userLedger("alice")) => engine.spent(ledger, budget);
  /** Resolves once `count` settlements have happened. */
  const settled = async (count = 1): Promise<Settlement[]> => {
    while (events.length < count) await new Promise<void>((wake) => waiters.push(wake));
    return events.map((e) => e.settlement);
  };
  return { engine, budget, middleware, events, spent, settled, afterTtl };
}

const alice = { providerOptions: { budgetgate: { userId: "alice" } } };

const flavors = await aiSdkFlavors();
if (!flavors.some((f) => f.name.startsWith("ai@7"))) {
  describe.skip(`budgetMiddleware with ai@7 (needs Node ${AI_SDK_7_NODE} or later)`, () => {
    it("runs on Node 22 and 24 in CI", () => undefined);
  });
}

describe.each<Flavor>(flavors)("budgetMiddleware with $name", (ai) => {
  it("holds the estimate while the call runs, then commits the cost of the reported usage", async () => {
    const { middleware, spent, events } = setup();
    let during: Amount | undefined;
    const mock = ai.mock({
      usage: DEFAULT_COUNTS,
      during: async () => {
        during = await spent();
      },
    });
    const text = await ai.generate(mock, middleware, { prompt: "hello", ...alice });

    expect(text).toBe("w0 w1 w2 w3 w4");
    expect(during?.toString()).toBe(ESTIMATE);
    expect((await spent()).equals(costOf(DEFAULT_COUNTS))).toBe(true);
    expect((await spent()).toString()).toBe("0.0075"); // 1000 × 2.50/1M + 500 × 10.00/1M
    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
  });

  it("blocks a call over budget before it reaches the model", async () => {
    const { middleware, spent } = setup({}, "0.04"); // below the 0.05 estimate
    const mock = ai.mock();
    const call = ai.generate(mock, middleware, { prompt: "hello", ...alice });

    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(call).rejects.toThrow(/Budget exceeded: 0\.00 \+ 0\.05 > 0\.04/);
    expect(mock.calls()).toBe(0);
    expect((await spent()).isZero()).toBe(true);
  });

  it("blocks a stream over budget before it reaches the model", async () => {
    const { middleware } = setup({}, "0.04");
    const mock = ai.mock();
    await expect(ai.doStream(mock, middleware, { prompt: "hello", ...alice })).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    expect(mock.calls()).toBe(0);
  });

  it("hands a blocked streamText's BudgetExceededError to onError, while text rejects with AI_NoOutputGeneratedError", async () => {
    const { middleware, spent } = setup({}, "0.04");
    const mock = ai.mock();
    // The detection the README shows: streamText does not throw, onError sees our error unchanged.
    let blocked: BudgetExceededError | undefined;
    const result = ai.stream(mock, middleware, {
      prompt: "hello",
      ...alice,
      onError: ({ error }) => {
        if (error instanceof BudgetExceededError) blocked = error;
      },
    });
    const chunks: string[] = [];
    for await (const chunk of result.textStream) chunks.push(chunk);
    const text = await Promise.resolve(result.text).catch((e: unknown) => e);

    expect(chunks).toEqual([]);
    expect(text).toBeInstanceOf(Error);
    expect((text as Error).name).toBe("AI_NoOutputGeneratedError");
    expect(text).not.toBeInstanceOf(BudgetExceededError);
    expect((text as Error).cause).not.toBeInstanceOf(BudgetExceededError);
    expect(blocked).toBeInstanceOf(BudgetExceededError);
    expect(blocked?.decision.reason).toBe("BUDGET_EXCEEDED");
    expect(blocked?.message).toMatch(/Budget exceeded: 0\.00 \+ 0\.05 > 0\.04/);
    expect(mock.calls()).toBe(0);
    expect((await spent()).isZero()).toBe(true);
  });

  it("keeps blocking once earlier calls have used the budget", async () => {
    const { middleware, spent } = setup({}, "0.08"); // each call holds 0.05 and costs 0.0075
    const mock = ai.mock();
    for (let i = 0; i < 5; i++) await ai.generate(mock, middleware, { prompt: "hi", ...alice });
    expect((await spent()).toString()).toBe("0.0375");
    // 0.0375 + 0.05 > 0.08: the sixth is refused although it would only have cost 0.0075.
    await expect(ai.generate(mock, middleware, { prompt: "hi", ...alice })).rejects.toBeInstanceOf(BudgetExceededError);
    expect(mock.calls()).toBe(5);
  });

  it("commits a stream's usage when it finishes", async () => {
    const { middleware, spent, events } = setup();
    const usage: Counts = { input: 2000, output: 300, cached: 1500 };
    const result = ai.stream(ai.mock({ usage }), middleware, { prompt: "hello", ...alice });

    expect(await result.text).toBe("w0 w1 w2 w3 w4 ");
    // (2000 − 1500) × 2.50 + 1500 × 1.25 + 300 × 10.00, per 1M tokens
    expect((await spent()).toString()).toBe("0.006125");
    expect((await spent()).equals(costOf(usage))).toBe(true);
    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
  });

  it("commits the estimate when the abort signal fires mid-stream", async () => {
    const { middleware, spent, settled, events } = setup();
    const controller = new AbortController();
    const mock = ai.mock({ delayMs: 5, words: 50 });
    const result = ai.stream(mock, middleware, { prompt: "hello", ...alice, abortSignal: controller.signal });
    let read = 0;
    try {
      for await (const _ of result.textStream) if (++read === 3) controller.abort();
    } catch {
      // Whether the SDK rethrows the abort is its business; what was recorded is ours.
    }
    await settled(1);

    expect(read).toBeLessThan(50);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("commits the estimate when the consumer stops reading before usage arrives, and cancels the provider stream", async () => {
    const { middleware, spent, events } = setup();
    const mock = ai.mock({ words: 20 });
    const stream = await ai.doStream(mock, middleware, { prompt: "hello", ...alice });
    const reader = stream.getReader();
    for (let i = 0; i < 4; i++) await reader.read();
    await reader.cancel("user closed the tab");

    expect(mock.cancelled()).toBe(true);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it.each(STUBBORN_CANCELS)(
    "commits the estimate before it cancels a provider stream whose cancel %s",
    async (behaviour, cancel) => {
      const context = setup();
      await expectSettledBeforeCancel(behaviour, context, ESTIMATE, async (onCancel) => {
        const mock = ai.mock({
          words: 20,
          cancel: () => {
            onCancel();
            return cancel();
          },
        });
        const reader = (await ai.doStream(mock, context.middleware, { prompt: "hello", ...alice })).getReader();
        for (let i = 0; i < 4; i++) await reader.read();
        return { stopped: reader.cancel("user closed the tab") };
      });
    },
  );

  it("commits the estimate when the stream errors mid-way without usage", async () => {
    const { middleware, spent, events } = setup();
    const stream = await ai.doStream(ai.mock({ errorAfter: { deltas: 2 } }), middleware, { prompt: "hi", ...alice });
    const reader = stream.getReader();
    const seen: string[] = [];
    await expect(
      (async () => {
        for (;;) {
          const next = await reader.read();
          if (next.done) return;
          seen.push(next.value.type);
        }
      })(),
    ).rejects.toThrow("stream broke");

    expect(seen).toEqual(["stream-start", "text-start", "text-delta", "text-delta"]);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("commits the reported usage when the stream breaks after the provider reported it", async () => {
    const { middleware, spent, events } = setup();
    const usage: Counts = { input: 400, output: 40 };
    const mock = ai.mock({ usage, errorAfter: { deltas: 2, withFinish: true } });
    const stream = await ai.doStream(mock, middleware, { prompt: "hi", ...alice });
    const reader = stream.getReader();
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toThrow("connection lost after finish");

    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
    expect((await spent()).equals(costOf(usage))).toBe(true);
  });

  it("commits the estimate for a finished stream whose provider reported no usage", async () => {
    const { middleware, spent, events } = setup();
    const result = ai.stream(ai.mock({ usage: null }), middleware, { prompt: "hi", ...alice });
    await result.text;
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("releases the hold when the provider call fails", async () => {
    const { middleware, spent, events } = setup();
    const failure = new Error("provider said 500");
    await expect(ai.generate(ai.mock({ fail: failure }), middleware, { prompt: "hi", ...alice })).rejects.toThrow(
      "provider said 500",
    );
    await expect(ai.doStream(ai.mock({ fail: failure }), middleware, { prompt: "hi", ...alice })).rejects.toBe(failure);

    expect(events.map((e) => e.outcome)).toEqual(["released", "released"]);
    expect((await spent()).isZero()).toBe(true);
  });

  it("commits the estimate when a generate call fails after its abort signal fired", async () => {
    const { middleware, spent, events } = setup();
    const controller = new AbortController();
    const mock = ai.mock({
      during: () => {
        controller.abort();
        throw new DOMException("aborted", "AbortError");
      },
    });
    await expect(
      ai.generate(mock, middleware, { prompt: "hi", ...alice, abortSignal: controller.signal }),
    ).rejects.toThrow();
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("charges each user's own ledger, chosen from the call's provider options", async () => {
    const { middleware, spent } = setup();
    const mock = ai.mock();
    await ai.generate(mock, middleware, { prompt: "a", providerOptions: { budgetgate: { userId: "alice" } } });
    await ai.generate(mock, middleware, { prompt: "b", providerOptions: { budgetgate: { userId: "bob" } } });
    await ai.generate(mock, middleware, { prompt: "c", providerOptions: { budgetgate: { userId: "bob" } } });

    expect((await spent(userLedger("alice"))).toString()).toBe("0.0075");
    expect((await spent(userLedger("bob"))).toString()).toBe("0.015");
    expect((await spent(userLedger("anonymous"))).isZero()).toBe(true);
  });

  it("charges the ledger of a closure over the request's user", async () => {
    const engine = new Engine();
    const budget = new Budget({ maxSpend: "1" });
    const mock = ai.mock();
    const forUser = (user: string) =>
      budgetMiddleware({ engine, budget, ledger: () => userLedger(user), estimate: ESTIMATE, prices: PRICES });
    await ai.generate(mock, forUser("carol"), { prompt: "hi" });
    expect((await engine.spent(userLedger("carol"), budget)).toString()).toBe("0.0075");
  });

  it("charges user and organisation together, all or none", async () => {
    const engine = new Engine();
    const perUser = new Budget({ maxSpend: "1.00" });
    const perOrg = new Budget({ maxSpend: "0.12" });
    const middleware = budgetMiddleware({
      engine,
      ledger: (call) => [
        { ledger: userLedger(userOf(call)), budget: perUser },
        { ledger: orgLedger, budget: perOrg },
      ],
      estimate: ESTIMATE,
      prices: PRICES,
    });
    const mock = ai.mock();
    const as = (userId: string) => ({ prompt: "hi", providerOptions: { budgetgate: { userId } } });
    await ai.generate(mock, middleware, as("alice"));
    await ai.generate(mock, middleware, as("bob"));

    expect((await engine.spent(userLedger("alice"), perUser)).toString()).toBe("0.0075");
    expect((await engine.spent(orgLedger, perOrg)).toString()).toBe("0.015");

    // Dave has room of his own, but the organisation has not: nothing is charged to either.
    for (let i = 0; i < 8; i++) await ai.generate(mock, middleware, as("carol"));
    expect((await engine.spent(orgLedger, perOrg)).toString()).toBe("0.075");
    const blocked = ai.generate(mock, middleware, as("dave"));
    await expect(blocked).rejects.toBeInstanceOf(BudgetExceededError);
    const error = (await blocked.catch((e: unknown) => e)) as BudgetExceededError;
    expect(error.decision.ledger.equals(orgLedger)).toBe(true);
    expect((await engine.spent(userLedger("dave"), perUser)).isZero()).toBe(true);
    expect((await engine.spent(orgLedger, perOrg)).toString()).toBe("0.075");
    expect(mock.calls()).toBe(10);
  });

  it("chooses prices and estimate per call, and accepts a cost function", async () => {
    const { middleware, spent } = setup({
      prices: (call) => (call.model.modelId === "big" ? { input: "10", output: "30" } : PRICES),
      estimate: (call) => (call.model.modelId === "big" ? "0.20" : "0.01"),
    });
    await ai.generate(ai.mock({ modelId: "big" }), middleware, { prompt: "hi", ...alice });
    expect((await spent()).toString()).toBe("0.025"); // 1000 × 10 + 500 × 30, per 1M

    const flat = setup({ prices: undefined, cost: (usage) => Amount.from(usage.outputTokens).minus(499) });
    await ai.generate(ai.mock(), flat.middleware, { prompt: "hi", ...alice });
    expect((await flat.spent()).equals("1")).toBe(true);
  });

  it("prices cached reads and cache writes of an Anthropic model exactly", async () => {
    const { middleware, spent } = setup();
    const usage: Counts = { input: 12_000, output: 200, cached: 10_000, cacheWrite: 1_500 };
    await ai.generate(ai.mock({ provider: "anthropic.messages", usage }), middleware, { prompt: "hi", ...alice });
    // 500 × 2.50 + 10000 × 1.25 + 1500 × 3.125 + 200 × 10.00, per 1M tokens
    expect((await spent()).toString()).toBe("0.0204375");
    expect((await spent()).equals(costOf(usage))).toBe(true);
  });

  it("commits the estimate and rethrows when pricing the usage fails", async () => {
    const { middleware, spent, events } = setup({
      prices: { input: "1", output: "1" }, // no cacheWrite price, and the usage reports cache writes
    });
    const mock = ai.mock({ provider: "anthropic.messages", usage: { input: 1000, output: 10, cacheWrite: 800 } });
    await expect(ai.generate(mock, middleware, { prompt: "hi", ...alice })).rejects.toThrow(/cacheWrite/);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });
});

describe("budgetMiddleware options", () => {
  const engine = new Engine();
  const base = { engine, ledger: userLedger("x"), estimate: "1", prices: PRICES };

  it("is a middleware of every specification (checked by the compiler, too)", () => {
    const middleware = budgetMiddleware(base);
    const v3: LanguageModelV3Middleware = middleware;
    const v2: LanguageModelV2Middleware = middleware;
    // AI SDK 7 takes any version tag (its LanguageModelMiddleware); the parts it calls are V4's.
    const v4: AiSdk7Middleware = middleware;
    const v4Parts: Omit<LanguageModelV4Middleware, "specificationVersion"> = middleware;
    expect(v3.specificationVersion).toBe("v3");
    expect(v2.middlewareVersion).toBe("v2");
    expect(typeof v3.wrapGenerate).toBe("function");
    expect(typeof v2.wrapStream).toBe("function");
    expect(v4.wrapGenerate).toBe(v4Parts.wrapGenerate);
  });

  it("admits every AI SDK version it is tested with in its peer range (npm refuses the install otherwise)", () => {
    const require = createRequire(import.meta.url);
    const range = (require("../../package.json") as { peerDependencies: { ai: string } }).peerDependencies.ai;
    for (const sdk of ["ai-v5", "ai", "ai-v7"]) {
      const { version } = require(`${sdk}/package.json`) as { version: string };
      expect(semver.satisfies(version, range), `ai@${version} in peer range ${range}`).toBe(true);
    }
  });

  it("refuses incomplete or contradictory options where they are written", () => {
    expect(() => budgetMiddleware({ ...base, engine: {} as Engine })).toThrow(/must be a budgetgate Engine/);
    expect(() => budgetMiddleware({ ...base, prices: undefined })).toThrow(/exactly one of prices .* got neither/);
    expect(() => budgetMiddleware({ ...base, cost: () => 1 })).toThrow(/got both/);
    expect(() => budgetMiddleware({ ...base, estimate: undefined as unknown as string })).toThrow(
      /estimate is required/,
    );
  });

  it("does not reserve for a call whose signal already aborted", async () => {
    const middleware = budgetMiddleware({ ...base, budget: new Budget({ maxSpend: "5" }) });
    const mock = v6.mock();
    await expect(
      v6.doStream(mock, middleware, { prompt: "hi", abortSignal: AbortSignal.abort(new Error("gone")) }),
    ).rejects.toThrow("gone");
    expect(mock.calls()).toBe(0);
    expect((await engine.spent(userLedger("x"), new Budget({ maxSpend: "5" }))).isZero()).toBe(true);
  });
});
