/**
 * A simulated agent (no network) spending on model calls for three users, on the engine's default
 * in-memory store. Each user's plan has a burst limit, a daily and a calendar-month limit with
 * alerts, and a tighter daily limit on trial as a shadow limit; the organisation has a daily limit
 * of its own. Carol's agent is stuck in a loop: the burst limit slows it, the daily limit stops it,
 * midnight frees it and the month's limit stops it for good. The clock is simulated (a call every
 * few seconds, from 23:20 UTC to past midnight) and the random numbers seeded, so every run prints
 * the same. Run with `npm run demo`.
 */
import { Amount, Budget, BudgetExceededError, Engine, Ledger, type LedgerUsage, type Limit } from "../src/index.js";

// A seeded generator, so that every run tells the same story.
let seed = 20261129;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
}

let now = Date.UTC(2026, 2, 17, 23, 20) / 1000; // 2026-03-17 23:20 UTC
const engine = new Engine({ clock: () => now });
const clock = (t = now) => new Date(t * 1000).toISOString().slice(5, 19).replace("T", " ");

const plan = new Budget({
  limits: [
    { maxSpend: "0.10", window: 60 }, // burst: $0.10 in any minute
    { maxSpend: "1.00", window: { calendar: "day" }, alerts: [0.5, 0.8, 1] }, // $1 a UTC day
    { maxSpend: "1.60", window: { calendar: "month", timeZone: "America/New_York" }, alerts: [0.8] },
    { maxSpend: "0.60", window: { calendar: "day" }, shadow: true }, // a tighter day, on trial
  ],
});
const org = new Ledger("openai", "gpt-4o", "org:acme");
engine.register(org, new Budget({ limits: [{ maxSpend: "3.00", window: { calendar: "day" }, alerts: [0.8] }] }));

const users = ["alice", "bob", "carol"] as const;
const userLedger = (user: string) => new Ledger("openai", "gpt-4o", `user:${user}`);
for (const user of users) engine.register(userLedger(user), plan);
const everyone = [...users.map(userLedger), org];

/** How a limit reads in the output: "60 s", "day UTC", "month America/New_York", "lifetime". */
function label(limit: Limit): string {
  const window = limit.window;
  const name =
    window === null ? "lifetime" : typeof window === "number" ? `${window} s` : `${window.calendar} ${window.timeZone}`;
  return limit.shadow ? `${name} (shadow)` : name;
}

// What the run saw: calls allowed per ledger, blocks per ledger and limit, shadow would-blocks.
const allowed = new Map<string, number>();
const blocked = new Map<string, number>(); // "ledger limit-index" → count
const wouldBlock = new Map<string, number>();
const alerts: string[] = [];
const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

engine.onThreshold((e) => {
  const line = `  ${clock(e.at)}  alert: ${e.ledger.principal} reached ${Math.round(e.level * 100)} % of ${e.maxSpend} (${label(e.limit)})`;
  alerts.push(line);
  console.log(line);
});
engine.onDecision((decision) => {
  if (!decision.allowed) return;
  for (const part of decision.perLedger) {
    bump(allowed, part.ledger.toString());
    if (part.wouldBlock) bump(wouldBlock, part.ledger.toString());
  }
});

// What each ledger was charged per UTC day, counted here, apart from the store: the final check.
const perDay = new Map<string, Amount>();

/** The price of a call, known before it runs (say, from its prompt): $0.005 to $0.05. */
function priceOf(_user: string, prompt: string): Amount {
  return Amount.fromUnits(BigInt(5 + (prompt.length % 46)) * 10n ** 15n, 3);
}

/** The "model": runs only when the call was allowed, and answers at once. */
async function fakeModel(user: string, prompt: string): Promise<string> {
  for (const ledger of [userLedger(user), org]) {
    const key = `${ledger} ${clock().slice(0, 5)}`;
    perDay.set(key, (perDay.get(key) ?? Amount.ZERO).plus(priceOf(user, prompt)));
  }
  return `(${user}) answer to a prompt of ${prompt.length} characters`;
}

// Each call is charged its price on the user's ledger and the organisation's together, or not at all.
const callModel = engine.guard((user: string) => [userLedger(user), org], undefined, { cost: priceOf })(fakeModel);

function bar(spent: Amount, max: Amount, width = 20): string {
  const filled = Number((spent.units * BigInt(width)) / (max.units === 0n ? 1n : max.units));
  return `[${"#".repeat(Math.min(width, filled))}${".".repeat(Math.max(0, width - filled))}]`;
}

async function progress(step: number): Promise<void> {
  const lines = [`${clock()}  after ${String(step).padStart(3)} calls   today                          month`];
  for (const ledger of everyone) {
    const { limits } = await engine.usage(ledger);
    const day = limits.find((part) => label(part.limit) === "day UTC");
    const month = limits.find((part) => part.limit.window !== null && label(part.limit).startsWith("month"));
    const cell = (part: typeof day) =>
      part === undefined
        ? "".padEnd(31)
        : `${bar(part.spent, part.limit.maxSpend)} ${part.spent}/${part.limit.maxSpend}`.padEnd(31);
    lines.push(`  ${ledger.principal.padEnd(10)} ${cell(day)} ${cell(month)}`.trimEnd());
  }
  console.log(lines.join("\n"));
}

console.log("Each user's plan:");
for (const limit of plan.limits) {
  const alerting = limit.alerts.length > 0 ? `, alerts at ${limit.alerts.map((a) => `${a * 100} %`).join(", ")}` : "";
  console.log(`  ${limit.maxSpend} per ${label(limit)}${alerting}`);
}
console.log(`The organisation: ${engine.budgetFor(org)?.maxSpend} per day UTC, shared by all.\n`);

const CALLS = 600;
const midnight = Date.UTC(2026, 2, 18) / 1000;
for (let step = 1; step <= CALLS; step++) {
  const before = now;
  now += 3 + Math.floor(random() * 10); // a call every 3 to 12 seconds
  if (before < midnight && now >= midnight)
    console.log(`${clock(midnight)}  midnight UTC: the day limits start afresh`);
  // Carol's agent is looping: it makes 84 % of all calls.
  const user = random() < 0.84 ? "carol" : (users[Math.floor(random() * 2)] as string);
  const prompt = "x".repeat(Math.floor(random() * 2000));
  try {
    await callModel(user, prompt);
  } catch (error) {
    if (!(error instanceof BudgetExceededError)) throw error;
    const { decision } = error;
    bump(blocked, `${decision.ledger} ${decision.budget.limits.indexOf(decision.limit)}`);
  }
  if (step % 100 === 0) await progress(step);
}

// The summary, from the store: every ledger of the namespace, with its registered budget.
const views: LedgerUsage[] = [];
for await (const view of engine.ledgers({ namespace: "openai" })) views.push(view);
views.sort((a, b) => everyone.findIndex((l) => l.equals(a.ledger)) - everyone.findIndex((l) => l.equals(b.ledger)));

console.log(`\nAt ${clock()} UTC, after ${CALLS} calls:\n`);
console.log("| ledger | limit | spent now | max | calls blocked by it |");
console.log("|---|---|---:|---:|---:|");
let over = false;
for (const view of views) {
  view.limits.forEach(({ limit, spent }, i) => {
    if (!limit.shadow && spent.gt(limit.maxSpend)) over = true;
    const blocks = limit.shadow ? "—" : String(blocked.get(`${view.ledger} ${i}`) ?? 0);
    console.log(`| ${view.ledger.principal} | ${label(limit)} | ${spent} | ${limit.maxSpend} | ${blocks} |`);
  });
}
console.log("\n| ledger | calls allowed | allowed past the shadow limit |");
console.log("|---|---:|---:|");
for (const view of views) {
  const key = view.ledger.toString();
  console.log(`| ${view.ledger.principal} | ${allowed.get(key) ?? 0} | ${wouldBlock.get(key) ?? 0} |`);
}
console.log("\n| ledger | spent on 03-17 | spent on 03-18 |");
console.log("|---|---:|---:|");
for (const ledger of everyone) {
  const on = (day: string) => perDay.get(`${ledger} ${day}`)?.toString() ?? "0";
  console.log(`| ${ledger.principal} | ${on("03-17")} | ${on("03-18")} |`);
}
console.log(`\n${alerts.length} alerts heard.`);
// Every UTC day's spend, as counted outside the store, within each ledger's enforced day limit.
for (const [key, spent] of perDay) {
  const ledger = everyone.find((l) => key.startsWith(`${l} `)) as Ledger;
  const day = engine.budgetFor(ledger)?.limits.find((limit) => !limit.shadow && label(limit) === "day UTC");
  if (day !== undefined && spent.gt(day.maxSpend)) over = true;
}
console.log(
  over ? "\nAn enforced limit was exceeded: this is a bug." : "\nNo ledger spent more than any enforced limit allows.",
);
process.exitCode = over ? 1 : 0;
