/**
 * Spend limits for the Anthropic SDK, offline: the real `@anthropic-ai/sdk` client talks to a local
 * server that speaks Anthropic's wire format (`baseURL` points at it).
 * Run with `npx tsx examples/anthropic.ts`.
 */
import Anthropic from "@anthropic-ai/sdk";
import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { anthropicBudget } from "budgetgate/anthropic";
import { startWireServer } from "./support/wire-server.js";

// Every answer reports 12 000 input tokens (10 000 read from the prompt cache, 1 500 written to it).
const server = await startWireServer({
  usage: (_request, reply) => ({ input: 12_000, cached: 10_000, cacheWrite: 1_500, output: reply.length }),
});
try {
  const client = new Anthropic({ apiKey: "sk-ant-local", baseURL: server.url, maxRetries: 0 });

  const engine = new Engine();
  const team = new Ledger("anthropic", "claude-sonnet", "team:research");
  const user = new Ledger("anthropic", "claude-sonnet", "user:alice");
  engine.register(team, new Budget({ maxSpend: "0.06", window: 86_400 }));
  engine.register(user, new Budget({ maxSpend: "1.00", window: 86_400 }));

  const budgeted = anthropicBudget({
    engine,
    estimate: "0.02",
    // Per 1M tokens. Cache writes need their own price (1.25× input for 5-minute entries).
    prices: { input: "3", output: "15", cachedInput: "0.30", cacheWrite: "3.75" },
  });
  const spent = async (ledger: Ledger) => (await engine.spent(ledger)).toString();
  const messages = [{ role: "user" as const, content: "Summarise our spend policy" }];

  // Charged to the user and the team together: both must have room, both are charged.
  const message = await budgeted([user, team], () =>
    client.messages.create({ model: "claude-sonnet", max_tokens: 256, messages }),
  );
  const first = message.content[0];
  console.log(`message: "${first?.type === "text" ? first.text : ""}"`);
  console.log(`  usage on the wire: ${JSON.stringify(message.usage)}`);
  console.log(
    `  charged ${await spent(user)} = 500 × 3 + 10000 × 0.30 + 1500 × 3.75 + ${message.usage.output_tokens} × 15, per 1M`,
  );

  // Streaming: message_delta carries the final usage, which is committed.
  const stream = await budgeted([user, team], () =>
    client.messages.create({ model: "claude-sonnet", max_tokens: 256, messages, stream: true }),
  );
  let text = "";
  for await (const event of stream) {
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
  }
  console.log(`stream:  "${text}" — user ${await spent(user)}, team ${await spent(team)}`);

  // The team's budget runs out first; the next call is refused before it is sent.
  for (;;) {
    try {
      await budgeted([user, team], () => client.messages.create({ model: "claude-sonnet", max_tokens: 256, messages }));
    } catch (error) {
      if (!(error instanceof BudgetExceededError)) throw error;
      console.log(`blocked by ${error.decision.ledger}: ${error.message}`);
      break;
    }
  }
  console.log(`team spent ${await spent(team)}; requests sent in all: ${server.requests.length}`);
} finally {
  await server.close();
}
