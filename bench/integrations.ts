/**
 * Integrations benchmark: what the budget adds to a model call. Each pair is measured side by side
 * in one run, samples interleaved (A, B, A, B, …) so that drift hits both alike; figures are
 * medians (and p99) of per-call times, and the ratio of the medians.
 * Run with `npx tsx bench/integrations.ts`.
 *
 * - AI SDK 6 `generateText` / `streamText` on a mock model (`ai/test`), plain and with
 *   `budgetMiddleware` on the in-memory store: the middleware's whole cost, with no network to hide it.
 * - OpenAI SDK `chat.completions.create` against the local wire server, plain and through
 *   `openaiBudget`: the same, next to a real HTTP round trip on loopback.
 * - `tokenCost` alone.
 */
import { generateText, streamText, wrapLanguageModel } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import OpenAI from "openai";
import { startWireServer } from "../examples/support/wire-server.js";
import { Budget, Engine, Ledger } from "../src/index.js";
import { budgetMiddleware } from "../src/integrations/ai-sdk.js";
import { openaiBudget } from "../src/integrations/openai.js";
import { tokenCost } from "../src/integrations/pricing.js";
import { formatNs, printTable, progress, quantile } from "./stats.js";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);

type Run = () => PromiseLike<unknown>;

/** Per-call ns of `a` and `b`, sampled alternately, `batch` calls per sample. */
async function pair(a: Run, b: Run, samples: number, batch: number): Promise<[number[], number[]]> {
  for (let i = 0; i < Math.min(2000, samples * batch); i++) {
    await a();
    await b();
  }
  const times: [number[], number[]] = [[], []];
  for (let s = 0; s < samples; s++) {
    for (const [k, run] of [a, b].entries()) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) await run();
      (times[k] as number[]).push(Number(process.hrtime.bigint() - start) / batch);
    }
  }
  return times;
}

const usage = {
  inputTokens: { total: 1200, noCache: 200, cacheRead: 1000, cacheWrite: 0 },
  outputTokens: { total: 150, text: 150, reasoning: 0 },
};
const finishReason = { unified: "stop" as const, raw: "stop" };
const parts = [
  { type: "stream-start" as const, warnings: [] },
  { type: "text-start" as const, id: "t" },
  ...Array.from({ length: 20 }, (_, i) => ({ type: "text-delta" as const, id: "t", delta: `w${i} ` })),
  { type: "text-end" as const, id: "t" },
  { type: "finish" as const, finishReason, usage },
];
const mock = new MockLanguageModelV3({
  doGenerate: async () => ({ content: [{ type: "text", text: "hello" }], finishReason, usage, warnings: [] }),
  doStream: async () => ({
    stream: new ReadableStream({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    }),
  }),
});

async function main() {
  const engine = new Engine();
  const budget = new Budget({ maxSpend: "1000000000000", window: 3600 });
  const prices = { input: "0.15", output: "0.60", cachedInput: "0.075" };
  const users = Array.from({ length: 100 }, (_, i) => new Ledger("bench", "mock", `user:${i}`));
  let n = 0;
  const budgeted = wrapLanguageModel({
    model: mock,
    middleware: budgetMiddleware({
      engine,
      budget,
      ledger: () => users[n++ % 100] as Ledger,
      estimate: "0.01",
      prices,
    }),
  });

  const rows: string[][] = [];
  const row = (name: string, [plain, metered]: [number[], number[]]) => {
    const a = quantile(plain, 0.5);
    const b = quantile(metered, 0.5);
    rows.push([
      name,
      `${formatNs(a)} (p99 ${formatNs(quantile(plain, 0.99))})`,
      `${formatNs(b)} (p99 ${formatNs(quantile(metered, 0.99))})`,
      `+${formatNs(b - a)}`,
      `${(b / a).toFixed(2)}×`,
    ]);
  };

  progress("AI SDK generateText");
  row(
    "AI SDK 6 generateText (mock model)",
    await pair(
      () => generateText({ model: mock, prompt: "hi" }),
      () => generateText({ model: budgeted, prompt: "hi" }),
      SAMPLES,
      10,
    ),
  );

  progress("AI SDK streamText");
  row(
    "AI SDK 6 streamText, 20 deltas, read to the end",
    await pair(
      () => streamText({ model: mock, prompt: "hi" }).consumeStream(),
      () => streamText({ model: budgeted, prompt: "hi" }).consumeStream(),
      Math.ceil(SAMPLES / 2),
      5,
    ),
  );

  progress("OpenAI SDK over loopback HTTP");
  const server = await startWireServer();
  try {
    const client = new OpenAI({ apiKey: "sk-local", baseURL: `${server.url}/v1`, maxRetries: 0 });
    const metered = openaiBudget({ engine, budget, estimate: "0.01", prices });
    const messages = [{ role: "user" as const, content: "hello" }];
    row(
      "OpenAI SDK chat.completions.create (loopback HTTP)",
      await pair(
        () => client.chat.completions.create({ model: "gpt", messages }),
        () => metered(users[n++ % 100] as Ledger, () => client.chat.completions.create({ model: "gpt", messages })),
        Math.ceil(SAMPLES / 4),
        2,
      ),
    );
  } finally {
    await server.close();
  }

  progress("tokenCost");
  const counts = { inputTokens: 1200, cachedInputTokens: 1000, outputTokens: 150, reasoningTokens: 20 };
  const cost = await pair(
    async () => undefined,
    async () => tokenCost(counts, prices),
    SAMPLES,
    100,
  );
  rows.push(["tokenCost (4 counts, 3 prices)", "—", `${formatNs(quantile(cost[1], 0.5))}`, "—", "—"]);

  printTable(["call", "plain, median", "with budget, median", "added", "ratio"], rows);
}

await main();
