import Anthropic from "@anthropic-ai/sdk";
import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { anthropicBudget, type BudgetedCall, type SdkCall, type SettleEvent } from "budgetgate/anthropic";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWireServer, type WireServer, type WireUsage } from "../../examples/support/wire-server.js";
import { ttlClock } from "./support/cancel.js";
import { itSettlesStoppedStreams } from "./support/sdk-stops.js";

// Totals, as TokenUsage counts them; on the wire input_tokens is 12 000 − 10 000 − 1 500 = 500.
const USAGE: WireUsage = { input: 12_000, output: 300, cached: 10_000, cacheWrite: 1_500 };
const PRICES = { input: "3", output: "15", cachedInput: "0.30", cacheWrite: "3.75" };
// 500 × 3 + 10 000 × 0.30 + 1 500 × 3.75 + 300 × 15, per 1M tokens
const COST = "0.014625";
const ESTIMATE = "0.05";

let server: WireServer;
let client: Anthropic;

beforeAll(async () => {
  server = await startWireServer({ usage: () => USAGE });
  client = new Anthropic({ apiKey: "sk-ant-local", baseURL: server.url, maxRetries: 0 });
});
afterAll(() => server.close());

const alice = new Ledger("anthropic", "claude-sonnet", "user:alice");
const messages = [{ role: "user" as const, content: "Summarise the budget" }];

/** A slow message stream, through `client` or one with its own `fetch`. */
const slowStream = (budgeted: BudgetedCall, fetch?: typeof globalThis.fetch) =>
  budgeted(alice, () =>
    (fetch
      ? new Anthropic({ apiKey: "sk-ant-local", baseURL: server.url, maxRetries: 0, fetch })
      : client
    ).messages.create({
      model: "claude-slow",
      max_tokens: 512,
      messages,
      stream: true,
    }),
  );

function setup(maxSpend = "1.00") {
  const { clock, afterTtl } = ttlClock();
  const engine = new Engine({ clock });
  const budget = new Budget({ maxSpend, window: 3600 });
  const events: SettleEvent<SdkCall>[] = [];
  const budgeted = anthropicBudget({
    engine,
    budget,
    estimate: ESTIMATE,
    prices: PRICES,
    onSettle: (e) => events.push(e),
  });
  const spent = (ledger = alice) => engine.spent(ledger, budget);
  return { afterTtl, engine, budgeted, events, spent, slowStream: slowStream.bind(null, budgeted) };
}

describe("anthropicBudget with the Anthropic SDK", () => {
  it("commits the cost of a message's usage, cache reads and writes included", async () => {
    const { budgeted, spent, events } = setup();
    const message = await budgeted(alice, () =>
      client.messages.create({ model: "claude-sonnet", max_tokens: 512, messages }),
    );
    expect(message.content[0]).toMatchObject({ type: "text", text: "echo: Summarise the budget" });
    expect(message.usage.input_tokens).toBe(500);
    expect((await spent()).toString()).toBe(COST);
    expect(events[0]?.usage).toMatchObject({ inputTokens: 12_000, cachedInputTokens: 10_000, cacheWriteTokens: 1_500 });
  });

  it("blocks a request over budget before it is sent", async () => {
    const { budgeted } = setup("0.04");
    const before = server.requests.length;
    await expect(
      budgeted(alice, () => client.messages.create({ model: "claude-sonnet", max_tokens: 512, messages })),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(server.requests.length).toBe(before);
  });

  it("commits a stream's final usage from message_start and message_delta", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await budgeted(alice, () =>
      client.messages.create({ model: "claude-sonnet", max_tokens: 512, messages, stream: true }),
    );
    let text = "";
    for await (const event of stream) {
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    expect(text).toBe("echo: Summarise the budget");
    expect((await spent()).toString()).toBe(COST);
    expect(events.map((e) => e.outcome)).toEqual(["usage"]);
  });

  it("commits the estimate, not message_start's partial usage, when the consumer stops early", async () => {
    const { budgeted, spent, events } = setup();
    const stream = await slowStream(budgeted);
    let seen = 0;
    for await (const _ of stream) if (++seen === 3) break;
    expect(events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await spent()).toString()).toBe(ESTIMATE);
    expect(stream.controller?.signal.aborted).toBe(true);
  });

  it("commits the estimate when the connection drops mid-stream, and rethrows", async () => {
    const { budgeted, spent } = setup();
    const stream = await budgeted(alice, () =>
      client.messages.create({ model: "claude-drop", max_tokens: 512, messages, stream: true }),
    );
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toThrow();
    expect((await spent()).toString()).toBe(ESTIMATE);
  });

  it("releases the hold when the API answers with an error", async () => {
    const { budgeted, spent, events } = setup();
    await expect(
      budgeted(alice, () => client.messages.create({ model: "claude-error", max_tokens: 512, messages })),
    ).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    expect(events.map((e) => e.outcome)).toEqual(["released"]);
    expect((await spent()).isZero()).toBe(true);
  });

  it("charges each user's ledger and their organisation's together", async () => {
    const engine = new Engine();
    const org = new Ledger("anthropic", "claude-sonnet", "org:acme");
    const bob = new Ledger("anthropic", "claude-sonnet", "user:bob");
    const budget = new Budget({ maxSpend: "1" });
    const budgeted = anthropicBudget({ engine, budget, estimate: ESTIMATE, prices: PRICES });
    for (const user of [alice, bob, bob]) {
      await budgeted([user, org], () => client.messages.create({ model: "claude-sonnet", max_tokens: 64, messages }));
    }
    expect((await engine.spent(alice, budget)).toString()).toBe(COST);
    expect((await engine.spent(bob, budget)).toString()).toBe("0.02925");
    expect((await engine.spent(org, budget)).toString()).toBe("0.043875");
  });
});

describe("anthropicBudget streams stopped early", () => {
  itSettlesStoppedStreams({ estimate: ESTIMATE, setup });
});
