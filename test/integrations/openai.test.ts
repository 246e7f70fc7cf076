import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { type BudgetedCall, MeteredStream, openaiBudget, type SdkCall, type SettleEvent } from "budgetgate/openai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWireServer, type WireServer, type WireUsage } from "../../examples/support/wire-server.js";
import { ttlClock } from "./support/cancel.js";
import { itSettlesStoppedStreams } from "./support/sdk-stops.js";

// The server reports this usage for every request: 1000 in (600 cached), 200 out (50 reasoning).
const USAGE: WireUsage = { input: 1000, output: 200, cached: 600, reasoning: 50 };
const PRICES = { input: "0.15", output: "0.60", cachedInput: "0.075" };
// 400 × 0.15 + 600 × 0.075 + 200 × 0.60, per 1M tokens
const COST = "0.000225";
const ESTIMATE = "0.01";

let server: WireServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startWireServer({ usage: () => USAGE });
  client = new OpenAI({ apiKey: "sk-local", baseURL: `${server.url}/v1`, maxRetries: 0 });
});
afterAll(() => server.close());

const alice = new Ledger("openai", "gpt-4o-mini", "user:alice");
const messages = [{ role: "user" as const, content: "What is a budget?" }];

/** A slow chat stream with its usage chunk, through `client` or one with its own `fetch`. */
const slowStream = (budgeted: BudgetedCall, fetch?: typeof globalThis.fetch) =>
  budgeted(alice, () =>
    (fetch
      ? new OpenAI({ apiKey: "sk-local", baseURL: `${server.url}/v1`, maxRetries: 0, fetch })
      : client
    ).chat.completions.create({
      model: "gpt-slow",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );

function setup(maxSpend = "1.00") {
  const { clock, afterTtl } = ttlClock();
  const engine = new Engine({ clock });
  const budget = new Budget({ maxSpend, window: 3600 });
  const events: SettleEvent<SdkCall>[] = [];
  const budgeted = openaiBudget({
    engine,
    budget,
    estimate: ESTIMATE,
    prices: PRICES,
    onSettle: (e) => events.push(e),
  });
  const spent = (ledger = alice) => engine.spent(ledger, budget);
  return { afterTtl, engine, budget, budgeted, events, spent, slowStream: slowStream.bind(null, budgeted) };
}

describe("openaiBudget with the OpenAI SDK", () => {
  it("commits the cost of a chat completion's usage", async () => {
    const { budgeted, spent, events } = setup();
    const completion = await budgeted(alice, () => client.chat.completions.create({ model: "gpt-4o-mini", messages }));

    expect(completion.choices[0]?.message.content).toBe("echo: What is a budget?");
    expect((await spent()).toString()).toBe(COST);
    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
    expect(events[0]?.usage).toEqual({
      inputTokens: 1000,
      outputTokens: 200,
      cachedInputTokens: 600,
      reasoningTokens: 50,
    });
  });

  it("commits the cost of a Responses API call's usage", async () => {
    const { budgeted, spent } = setup();
    const response = await budgeted(alice, () =>
      client.responses.create({ model: "gpt-4o-mini", input: "Hello there" }),
    );
    expect(response.output_text).toBe("echo: Hello there");
    expect((await spent()).toString()).toBe(COST);
  });

  it("blocks a request over budget before it is sent", async () => {
    const { budgeted, spent } = setup("0.005"); // below the 0.01 estimate
    const before = server.requests.length;
    const call = budgeted(alice, () => client.chat.completions.create({ model: "gpt-4o-mini", messages }));

    await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect((await spent()).isZero()).toBe(true);
  });

  it("commits a chat stream's usage chunk", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await budgeted(alice, () =>
      client.chat.completions.create({
        model: "gpt-4o-mini",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(stream).toBeInstanceOf(MeteredStream);
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";

    expect(text).toBe("echo: What is a budget?");
    expect((await stream.settlement).recorded.toString()).toBe(COST);
    expect((await spent()).toString()).toBe(COST);
    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
  });

  it("commits the estimate for a chat stream sent without stream_options.include_usage", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await budgeted(alice, () =>
      client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    for await (const _ of stream);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("commits a Responses stream's response.completed usage", async () => {
    const { budgeted, spent } = setup();
    const stream = await budgeted(alice, () =>
      client.responses.create({ model: "gpt-4o-mini", input: "Hi", stream: true }),
    );
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe("response.completed");
    expect((await spent()).toString()).toBe(COST);
  });

  it("commits the estimate when the consumer stops reading early, and closes the request", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await budgeted(alice, () =>
      client.chat.completions.create({
        model: "gpt-slow",
        messages: [{ role: "user", content: "one two three four five six seven eight" }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 2) break;

    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
    expect(stream.controller?.signal.aborted).toBe(true);
  });

  it("commits the estimate when the abort signal fires mid-stream", async () => {
    const { budgeted, spent, events } = setup();
    const controller = new AbortController();
    const stream = await budgeted(
      alice,
      () =>
        client.chat.completions.create(
          { model: "gpt-slow", messages, stream: true, stream_options: { include_usage: true } },
          { signal: controller.signal },
        ),
      { signal: controller.signal },
    );
    let chunks = 0;
    // The SDK ends an aborted stream quietly; the cost is recorded all the same.
    for await (const _ of stream) if (++chunks === 2) controller.abort();

    expect(chunks).toBeLessThan(5);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("commits the estimate when the connection drops mid-stream, and rethrows", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await budgeted(alice, () =>
      client.chat.completions.create({
        model: "gpt-drop",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toThrow();
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("releases the hold when the API answers with an error", async () => {
    const { budgeted, spent, events } = setup();
    const call = budgeted(alice, () => client.chat.completions.create({ model: "gpt-error", messages }));
    await expect(call).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    expect(events.map((e) => e.outcome)).toEqual(["released"]);
    expect((await spent()).isZero()).toBe(true);
  });

  it("commits the estimate when a request is aborted before its answer", async () => {
    const { budgeted, spent, events } = setup();
    const controller = new AbortController();
    const call = budgeted(
      alice,
      () => {
        const pending = client.chat.completions.create(
          { model: "gpt-4o-mini", messages },
          { signal: controller.signal },
        );
        controller.abort();
        return pending;
      },
      { signal: controller.signal },
    );
    await expect(call).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("charges user and organisation together, all or none", async () => {
    const engine = new Engine();
    const org = new Ledger("openai", "gpt-4o-mini", "org:acme");
    const bob = new Ledger("openai", "gpt-4o-mini", "user:bob");
    const perUser = new Budget({ maxSpend: "1" });
    const perOrg = new Budget({ maxSpend: "0.0101" }); // room for one 0.01 hold, not for a second after it
    const budgeted = openaiBudget({ engine, estimate: ESTIMATE, prices: PRICES });
    const targets = (user: Ledger) => [
      { ledger: user, budget: perUser },
      { ledger: org, budget: perOrg },
    ];
    await budgeted(targets(alice), () => client.chat.completions.create({ model: "gpt-4o-mini", messages }));
    expect((await engine.spent(alice, perUser)).toString()).toBe(COST);
    expect((await engine.spent(org, perOrg)).toString()).toBe(COST);

    const before = server.requests.length;
    await expect(
      budgeted(targets(bob), () => client.chat.completions.create({ model: "gpt-4o-mini", messages })),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
    expect((await engine.spent(bob, perUser)).isZero()).toBe(true);
    expect((await engine.spent(org, perOrg)).toString()).toBe(COST);
  });

  it("takes per-call overrides of the estimate and prices", async () => {
    const { budgeted, spent } = setup();
    await budgeted(alice, () => client.chat.completions.create({ model: "gpt-4o-mini", messages }), {
      estimate: "0.5",
      prices: { input: "1", output: "1" },
    });
    expect((await spent()).toString()).toBe("0.0012");
  });
});

describe("openaiBudget streams stopped early", () => {
  itSettlesStoppedStreams({ estimate: ESTIMATE, setup });
});
