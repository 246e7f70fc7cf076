/**
 * Spend limits for the Vercel AI SDK (v6), offline: a mock model from `ai/test` stands in for a
 * provider and reports token usage the way a real one does. Run with `npx tsx examples/ai-sdk.ts`.
 *
 * One line — `middleware: budgetMiddleware(...)` — puts every generateText/streamText call on the
 * wrapped model under a per-user budget and an organisation budget, charged together.
 */
import { generateText, streamText, wrapLanguageModel } from "ai";
import { MockLanguageModelV3, simulateReadableStream } from "ai/test";
import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { budgetMiddleware } from "budgetgate/ai-sdk";

// ---- a stand-in for openai("gpt-4o-mini"): 1200 tokens in (1000 cached), 150 out
const usage = {
  inputTokens: { total: 1200, noCache: 200, cacheRead: 1000, cacheWrite: 0 },
  outputTokens: { total: 150, text: 150, reasoning: 0 },
};
const words = "Budgets stop runaway agents before they spend.".split(" ");
const provider = new MockLanguageModelV3({
  provider: "openai.chat",
  modelId: "gpt-4o-mini",
  doGenerate: async () => ({
    content: [{ type: "text", text: words.join(" ") }],
    finishReason: { unified: "stop", raw: "stop" },
    usage,
    warnings: [],
  }),
  doStream: async () => ({
    stream: simulateReadableStream({
      chunkDelayInMs: 2,
      chunks: [
        { type: "stream-start", warnings: [] },
        { type: "text-start", id: "t" },
        ...words.map((w) => ({ type: "text-delta" as const, id: "t", delta: `${w} ` })),
        { type: "text-end", id: "t" },
        { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage },
      ],
    }),
  }),
});

// ---- budgets: $0.002 per user per hour, $0.0025 for the whole organisation
const engine = new Engine();
const perUser = new Budget({ maxSpend: "0.002", window: 3600 });
const perOrg = new Budget({ maxSpend: "0.0025", window: 3600 });
const userLedger = (user: string) => new Ledger("openai", "gpt-4o-mini", `user:${user}`);
const orgLedger = new Ledger("openai", "gpt-4o-mini", "org:acme");

const model = wrapLanguageModel({
  model: provider,
  middleware: budgetMiddleware({
    engine,
    // Who pays: the user named in the call's provider options, and their organisation.
    ledger: ({ params }) => [
      { ledger: userLedger(String(params.providerOptions?.budgetgate?.userId)), budget: perUser },
      { ledger: orgLedger, budget: perOrg },
    ],
    // Held before the request leaves; the actual cost replaces it when the usage is known.
    estimate: "0.0005",
    // Your prices per 1M tokens (budgetgate ships none).
    prices: { input: "0.15", output: "0.60", cachedInput: "0.075" },
  }),
});
const as = (userId: string) => ({ providerOptions: { budgetgate: { userId } } });

const spentBy = async (user: string) => (await engine.spent(userLedger(user), perUser)).toString();

// 1. generateText: the cost of the reported usage is committed.
const answer = await generateText({ model, prompt: "Why budgets?", ...as("alice") });
console.log(`alice: "${answer.text}"`);
console.log(`  charged ${await spentBy("alice")} (200 × 0.15 + 1000 × 0.075 + 150 × 0.60, per 1M tokens)`);

// 2. streamText: committed when the stream finishes.
const streamed = streamText({ model, prompt: "And streams?", ...as("alice") });
await streamed.text;
console.log(`alice, streamed: charged ${await spentBy("alice")} in all`);

// 3. A user over budget is refused before the provider is called.
let calls = provider.doGenerateCalls.length;
for (let i = 0; ; i++) {
  try {
    await generateText({ model, prompt: `question ${i}`, ...as("bob") });
  } catch (error) {
    if (!(error instanceof BudgetExceededError)) throw error;
    console.log(`bob: blocked after ${i} calls, ${await spentBy("bob")} spent: ${error.message}`);
    break;
  }
}
console.log(`  the provider saw ${provider.doGenerateCalls.length - calls} of bob's calls, not the blocked one`);

// 4. An aborted stream is charged the estimate: the provider may already have billed it.
const controller = new AbortController();
const aborted = streamText({ model, prompt: "long answer", abortSignal: controller.signal, ...as("carol") });
for await (const _ of aborted.textStream) controller.abort();
await new Promise((resolve) => setTimeout(resolve, 10));
console.log(`carol: aborted stream charged ${await spentBy("carol")} (the estimate)`);

// 5. The organisation's budget binds everyone together.
calls = provider.doGenerateCalls.length;
const blocked = await generateText({ model, prompt: "one more", ...as("dave") }).catch((e: unknown) => e);
if (!(blocked instanceof BudgetExceededError)) throw new Error("expected the organisation budget to block dave");
console.log(`dave: blocked by ${blocked.decision.ledger} although his own ledger is empty`);
console.log(`organisation spent ${(await engine.spent(orgLedger, perOrg)).toString()} of ${perOrg.maxSpend}`);
