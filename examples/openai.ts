/**
 * Spend limits for the OpenAI SDK, offline: the real `openai` client talks to a local server that
 * speaks OpenAI's wire format (`baseURL` points at it). Run with `npx tsx examples/openai.ts`.
 */
import { Budget, BudgetExceededError, Engine, Ledger } from "budgetgate";
import { openaiBudget } from "budgetgate/openai";
import OpenAI from "openai";
import { startWireServer } from "./support/wire-server.js";

const server = await startWireServer({
  usage: (_request, reply) => ({ input: 1200, cached: 1000, output: reply.length }),
});
try {
  const client = new OpenAI({ apiKey: "sk-local", baseURL: `${server.url}/v1`, maxRetries: 0 });

  const engine = new Engine();
  const user = new Ledger("openai", "gpt-4o-mini", "user:alice");
  engine.register(user, new Budget({ maxSpend: "0.0008", window: 3600 }));

  // Configure once: the estimate held per request, and your prices per 1M tokens.
  const budgeted = openaiBudget({
    engine,
    estimate: "0.0003",
    prices: { input: "0.15", output: "0.60", cachedInput: "0.075" },
  });
  const spent = async () => (await engine.spent(user)).toString();
  const messages = [{ role: "user" as const, content: "How do budgets help agents?" }];

  // Chat Completions: wrap the call; the usage it reports is priced and committed.
  const completion = await budgeted(user, () => client.chat.completions.create({ model: "gpt-4o-mini", messages }));
  console.log(`chat:      "${completion.choices[0]?.message.content}" — spent ${await spent()}`);

  // Streaming: ask for the usage chunk, or the estimate is what gets charged.
  const stream = await budgeted(user, () =>
    client.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  console.log(`stream:    "${text}" — spent ${await spent()}`);

  // Responses API, streamed: response.completed carries the usage.
  const events = await budgeted(user, () =>
    client.responses.create({ model: "gpt-4o-mini", input: "Say hi", stream: true }),
  );
  for await (const event of events)
    if (event.type === "response.completed")
      console.log(`responses: "${event.response.output_text}" — usage committed`);
  console.log(`           spent ${await spent()}`);

  // An API error releases the hold: nothing is charged.
  await budgeted(user, () => client.chat.completions.create({ model: "gpt-error", messages })).catch((e: Error) =>
    console.log(`API error: ${e.constructor.name}, hold released`),
  );
  console.log(`           spent ${await spent()}`);

  // Stopping a stream early closes the request and charges the estimate: it may have been billed.
  const early = await budgeted(user, () =>
    client.chat.completions.create({
      model: "gpt-4o-mini-slow",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  for await (const _ of early) break;
  console.log(`early stop: charged the estimate — spent ${await spent()}`);

  // Over budget: refused before any request is sent.
  const sent = server.requests.length;
  await budgeted(user, () => client.chat.completions.create({ model: "gpt-4o-mini", messages })).catch((e: unknown) => {
    if (!(e instanceof BudgetExceededError)) throw e;
    console.log(`blocked:   ${e.message}; requests sent: ${server.requests.length - sent}`);
  });
} finally {
  await server.close();
}
