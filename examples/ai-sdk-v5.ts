/**
 * The same middleware on AI SDK 5 (`LanguageModelV2`), offline, with its mock model from `ai/test`
 * (installed here under the alias `ai-v5`; in your project import from "ai" and "ai/test").
 * Run with `npx tsx examples/ai-sdk-v5.ts`.
 */
import { generateText, streamText, wrapLanguageModel } from "ai-v5";
import { MockLanguageModelV2, simulateReadableStream } from "ai-v5/test";
import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { budgetMiddleware } from "budgetgate/ai-sdk";

// AI SDK 5's Anthropic provider counts cache reads outside inputTokens; the middleware knows.
const usage = { inputTokens: 300, outputTokens: 120, totalTokens: 420, cachedInputTokens: 4000 };
const provider = new MockLanguageModelV2({
  provider: "anthropic.messages",
  modelId: "claude-sonnet",
  doGenerate: async () => ({
    content: [{ type: "text", text: "Hello from a v2 model." }],
    finishReason: "stop",
    usage,
    warnings: [],
  }),
  doStream: async () => ({
    stream: simulateReadableStream({
      chunks: [
        { type: "stream-start", warnings: [] },
        { type: "text-start", id: "t" },
        { type: "text-delta", id: "t", delta: "Streamed " },
        { type: "text-delta", id: "t", delta: "hello." },
        { type: "text-end", id: "t" },
        { type: "finish", finishReason: "stop", usage },
      ],
    }),
  }),
});

const engine = new Engine();
const budget = new Budget({ maxSpend: "0.01", window: 86_400 });
const ledger = new Ledger("anthropic", "claude-sonnet", "user:alice");
engine.register(ledger, budget);

const model = wrapLanguageModel({
  model: provider,
  middleware: budgetMiddleware({
    engine,
    ledger,
    estimate: "0.004",
    prices: { input: "3", output: "15", cachedInput: "0.30", cacheWrite: "3.75" },
  }),
});

const { text } = await generateText({ model, prompt: "Hi" });
console.log(`generate: "${text}" — charged ${(await engine.spent(ledger)).toString()}`);
console.log("  (300 × 3 + 4000 × 0.30 + 120 × 15, per 1M tokens: cache reads added back, priced apart)");

const stream = streamText({ model, prompt: "Hi again" });
console.log(`stream: "${await stream.text}" — ${(await engine.spent(ledger)).toString()} in all`);

try {
  for (;;) await generateText({ model, prompt: "more" });
} catch (error) {
  if (!(error instanceof BudgetExceededError)) throw error;
  console.log(`blocked at ${(await engine.spent(ledger)).toString()} of ${budget.maxSpend}: ${error.message}`);
}
