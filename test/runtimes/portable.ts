/**
 * The checks that the workerd and Edge runtime entries of the matrix run inside those runtimes: the
 * core and the AI SDK middleware, bundled for the web with no Node built-ins. vitest does not run
 * there, so each check is a plain function that throws when a decision is not the expected one.
 */
import { Amount, Budget, BudgetExceededError, Engine, Ledger, MemoryStore, Status } from "budgetgate";
import { budgetMiddleware } from "budgetgate/ai-sdk";
import { DEFAULT_COUNTS, type Flavor, v5, v6 } from "../integrations/support/models.js";

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

const checks: Record<string, () => Promise<void>> = {
  "check allows what fits and blocks what does not, exactly": async () => {
    const engine = new Engine();
    const ledger = new Ledger("openai", "gpt-4o", "user:1");
    const budget = new Budget({ maxSpend: "0.10", window: 3600 });
    const statuses: string[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await engine.check(ledger, "0.03", budget)).status);
    equal(statuses.join(","), "ALLOW,ALLOW,ALLOW,BLOCK", "statuses");
    const blocked = await engine.check(ledger, "0.03", budget);
    equal(blocked.message, "Budget exceeded: 0.09 + 0.03 > 0.10", "message");
    equal((await engine.spent(ledger, budget)).toString(), "0.09", "spent");
  },
  "reserve holds the estimate under a random UUID, commit records the actual": async () => {
    const engine = new Engine({ store: new MemoryStore() });
    const ledger = new Ledger("agent", "tools");
    const budget = new Budget({ maxSpend: "1" });
    const { reservation, decision } = await engine.reserve(ledger, "0.50", budget);
    equal(decision.status, Status.ALLOW, "reserve");
    if (!reservation) throw new Error("no reservation");
    equal(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(reservation.id), true, "uuid");
    equal((await engine.reserve(ledger, "0.60", budget)).decision.status, Status.BLOCK, "second hold");
    await engine.commit(reservation, "0.20");
    equal((await engine.spent(ledger, budget)).toString(), "0.2", "spent after commit");
  },
  "a plan of three limits, a calendar day in a time zone, a threshold and a shadow limit": async () => {
    let t = Date.UTC(2026, 2, 8, 6) / 1000; // 01:00 in New York, on its 23-hour day
    const engine = new Engine({ store: new MemoryStore(), clock: () => t });
    const heard: number[] = [];
    engine.onThreshold((e) => {
      heard.push(e.level);
    });
    const ledger = new Ledger("agent", "plan");
    const budget = new Budget({
      limits: [
        { maxSpend: "5", window: 60 },
        { maxSpend: "2", window: { calendar: "day", timeZone: "America/New_York" }, alerts: [0.5] },
        { maxSpend: "0.5", window: 3600, shadow: true },
      ],
    });
    equal((await engine.check(ledger, "1", budget)).wouldBlock, true, "shadow would block");
    t += 61;
    const blocked = await engine.check(ledger, "1.5", budget);
    equal(blocked.status, Status.BLOCK, "day limit blocks");
    equal(blocked.resetsAt, Date.UTC(2026, 2, 9, 4) / 1000, "the New York day ends at 04:00 UTC");
    equal(heard.join(), "0.5", "alert at 50 %");
    equal(Budget.fromJSON(JSON.parse(JSON.stringify(budget))).limits.length, 3, "JSON round trip");
  },
  "amounts are exact": async () => {
    equal(Amount.from("0.1").plus("0.2").toString(), "0.3", "0.1 + 0.2");
  },
  ...middlewareChecks(v6),
  ...middlewareChecks(v5),
};

function middlewareChecks(ai: Flavor): Record<string, () => Promise<void>> {
  const setup = (maxSpend: string) => {
    const engine = new Engine();
    const ledger = new Ledger("openai", "gpt-4o");
    const budget = new Budget({ maxSpend });
    const middleware = budgetMiddleware({
      engine,
      ledger,
      budget,
      estimate: "0.05",
      prices: { input: "2.50", output: "10.00" },
    });
    return { middleware, spent: () => engine.spent(ledger, budget) };
  };
  return {
    [`AI SDK ${ai.name}: generateText commits the cost of the reported usage`]: async () => {
      const { middleware, spent } = setup("1");
      equal(
        await ai.generate(ai.mock({ usage: DEFAULT_COUNTS }), middleware, { prompt: "hi" }),
        "w0 w1 w2 w3 w4",
        "text",
      );
      equal((await spent()).toString(), "0.0075", "spent");
    },
    [`AI SDK ${ai.name}: streamText commits the cost when the stream ends`]: async () => {
      const { middleware, spent } = setup("1");
      const result = ai.stream(ai.mock({ usage: { input: 2000, output: 300 } }), middleware, { prompt: "hi" });
      equal(await result.text, "w0 w1 w2 w3 w4 ", "text");
      equal((await spent()).toString(), "0.008", "spent");
    },
    [`AI SDK ${ai.name}: a call over budget is blocked before it reaches the model`]: async () => {
      const { middleware, spent } = setup("0.04");
      const mock = ai.mock();
      const error = await ai.generate(mock, middleware, { prompt: "hi" }).then(
        () => null,
        (e: unknown) => e,
      );
      equal(error instanceof BudgetExceededError, true, "BudgetExceededError");
      equal(mock.calls(), 0, "model calls");
      equal((await spent()).isZero(), true, "nothing spent");
    },
  };
}

/** Runs every check; never throws, so that the host sees each result. */
export async function runPortableChecks(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, check] of Object.entries(checks)) {
    try {
      await check();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({ name, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  }
  return results;
}
