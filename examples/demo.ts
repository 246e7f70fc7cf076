/**
 * A simulated agent (no network) spending on model calls for three users under per-user budgets
 * and one global budget, on the engine's default in-memory store. Carol's agent is stuck in a
 * loop; the budgets stop it. Run with `npm run demo`.
 */
import { Amount, Budget, BudgetExceededError, Engine, Ledger } from "../src/index.js";

// A seeded generator, so that every run tells the same story.
let seed = 20261129;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
}

const engine = new Engine();
const perUser = new Budget({ maxSpend: "0.50", window: 3600 }); // $0.50 per user per hour
const global = new Ledger("openai", "gpt-4o", "global");
engine.register(global, new Budget({ maxSpend: "1.20", window: 3600 })); // $1.20 per hour for everyone

const users = ["alice", "bob", "carol"] as const;
const userLedger = (user: string) => new Ledger("openai", "gpt-4o", `user:${user}`);
const stats = new Map<string, { allowed: number; blocked: number }>();
for (const name of [...users.map((u) => userLedger(u).toString()), global.toString()]) {
  stats.set(name, { allowed: 0, blocked: 0 });
}

interface Completion {
  readonly text: string;
  readonly cost: Amount;
}

/** The "model": costs between $0.005 and $0.05 a call, reported after it answers. */
async function fakeModel(user: string, prompt: string): Promise<Completion> {
  const tenthsOfCents = 5 + Math.floor(random() * 46);
  return { text: `(${user}) answer to ${prompt}`, cost: Amount.fromUnits(BigInt(tenthsOfCents) * 10n ** 15n, 3) };
}

// Each call reserves its worst case ($0.05) on the user's ledger and the global one together,
// then commits what it actually cost.
const callModel = engine.guardBounded(
  (user: string) => [{ ledger: userLedger(user), budget: perUser }, global],
  undefined,
  { estimate: "0.05", actual: (reply: Completion) => reply.cost },
)(fakeModel);

function bar(spent: Amount, max: Amount, width = 30): string {
  const filled = Number((spent.units * BigInt(width)) / (max.units === 0n ? 1n : max.units));
  return `[${"#".repeat(Math.min(width, filled))}${".".repeat(Math.max(0, width - filled))}]`;
}

async function progress(step: number): Promise<void> {
  const lines = [`after ${String(step).padStart(3)} calls:`];
  for (const ledger of [...users.map(userLedger), global]) {
    const budget = engine.budgetFor(ledger) ?? perUser;
    const spent = await engine.spent(ledger, budget);
    lines.push(`  ${ledger.toString().padEnd(30)} ${bar(spent, budget.maxSpend)} ${spent} / ${budget.maxSpend}`);
  }
  console.log(lines.join("\n"));
}

const CALLS = 150;
for (let step = 1; step <= CALLS; step++) {
  // Carol's agent is looping: she makes half of all calls.
  const user = random() < 0.5 ? "carol" : (users[Math.floor(random() * 2)] as string);
  try {
    await callModel(user, `question ${step}`);
    for (const ledger of [userLedger(user), global]) (stats.get(ledger.toString()) as { allowed: number }).allowed++;
  } catch (error) {
    if (!(error instanceof BudgetExceededError)) throw error;
    (stats.get(error.decision.ledger.toString()) as { blocked: number }).blocked++;
  }
  if (step % 25 === 0) await progress(step);
}

console.log("\n| ledger | calls allowed | calls blocked here | spent | budget |");
console.log("|---|---:|---:|---:|---:|");
let over = false;
for (const ledger of [...users.map(userLedger), global]) {
  const budget = engine.budgetFor(ledger) ?? perUser;
  const spent = await engine.spent(ledger, budget);
  const { allowed, blocked } = stats.get(ledger.toString()) as { allowed: number; blocked: number };
  if (spent.gt(budget.maxSpend)) over = true;
  console.log(`| ${ledger} | ${allowed} | ${blocked} | ${spent} | ${budget.maxSpend} |`);
}
console.log(over ? "\nA budget was exceeded: this is a bug." : "\nNo ledger spent more than its budget.");
process.exitCode = over ? 1 : 0;
