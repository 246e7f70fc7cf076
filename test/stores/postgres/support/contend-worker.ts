/**
 * One of several processes contending on the same ledgers (test/stores/postgres/processes.test.ts).
 * Argument: a JSON Job. Prints "ready" once connected, waits for "go" on stdin so that all
 * processes start together, then prints one JSON line with its counts and exits.
 */
import { once } from "node:events";
import { BlockReason, Budget, Engine, Ledger, type Targets } from "budgetgate";
import { PostgresStore } from "budgetgate/postgres";
import pg from "pg";
import postgres from "postgres";

export interface Job {
  readonly url: string;
  readonly prefix: string;
  readonly ns: string;
  readonly worker: number;
  readonly mode: "single" | "multi" | "reserve" | "skewed";
  /** Milliseconds added to this process's Date.now (mode "skewed"): its own clock, hours off. */
  readonly skewMs?: number;
  readonly calls: number;
  readonly driver: "pg" | "postgres.js";
}

export interface Outcome {
  readonly allowed: number;
  readonly storeErrors: number;
  /** Alert levels this process was told of (mode "skewed"), as "limit index:level". */
  readonly alerts: string[];
}

const job = JSON.parse(process.argv[2] as string) as Job;
// Never outlive the test: a parent that vanished leaves no process behind.
setTimeout(() => process.exit(3), 60_000).unref();
process.stdin.on("end", () => process.exit(4));

if (job.skewMs !== undefined) {
  const real = Date.now.bind(Date);
  Date.now = () => real() + (job.skewMs as number);
}

const pool = job.driver === "pg" ? new pg.Pool({ connectionString: job.url, max: 4 }) : null;
const sql = job.driver === "postgres.js" ? postgres(job.url, { max: 4, onnotice: () => {} }) : null;
pool?.on("error", () => {});
const store = new PostgresStore((pool ?? sql) as pg.Pool, { prefix: job.prefix });
const engine = new Engine({ store, storeTimeoutMs: 20_000 });

const ledger = (principal: string) => new Ledger(job.ns, "model", principal);
const shared = { ledger: ledger("global"), budget: new Budget({ maxSpend: "10.00" }) };
const user = { ledger: ledger(`user:${job.worker}`), budget: new Budget({ maxSpend: "1.00" }) };
const team = { ledger: ledger(`team:${job.worker % 2}`), budget: new Budget({ maxSpend: "1.50" }) };
const org = { ledger: ledger("org"), budget: new Budget({ maxSpend: "2.50" }) };
/** A calendar day (UTC, by the server's clock) with alerts, and a rolling hour beside it. */
export const SKEWED_BUDGET = {
  limits: [
    { maxSpend: "10.00", window: { calendar: "day" as const }, alerts: [0.5, 0.8, 1] },
    { maxSpend: "50.00", window: 3600 },
  ],
};
const skewed = new Budget(SKEWED_BUDGET);
const alerts: string[] = [];
engine.onThreshold((event) => {
  alerts.push(`${skewed.limits.indexOf(event.limit)}:${event.level}`);
});
const orders: Targets[] = [
  [user, team, org],
  [org, team, user],
  [team, user, org],
  [org, user, team],
];

async function one(i: number): Promise<{ allowed: boolean; storeError: boolean }> {
  if (job.mode === "single") {
    const d = await engine.check(shared.ledger, "0.07", shared.budget);
    return { allowed: d.allowed, storeError: d.reason === BlockReason.STORE_ERROR };
  }
  if (job.mode === "multi") {
    const d = await engine.check(orders[(i + job.worker) % orders.length] as Targets, "0.05");
    return { allowed: d.allowed, storeError: d.reason === BlockReason.STORE_ERROR };
  }
  if (job.mode === "skewed") {
    const d = await engine.check(shared.ledger, "0.05", skewed);
    return { allowed: d.allowed, storeError: d.reason === BlockReason.STORE_ERROR };
  }
  const { reservation, decision } = await engine.reserve(shared.ledger, "0.5", shared.budget);
  if (reservation !== null) await engine.commit(reservation, "0.25");
  return { allowed: reservation !== null, storeError: decision.reason === BlockReason.STORE_ERROR };
}

await store.read(
  {
    ledger: shared.ledger,
    key: shared.ledger.toString(),
    limits: [{ window: { kind: "lifetime", id: "life" }, maxSpend: 0n, enforce: true }],
  },
  {
    now: undefined,
    timeoutMs: 5000,
    deadline: Date.now() + 5000,
    signal: new AbortController().signal,
  },
); // connect before the start line
process.stdout.write("ready\n");
process.stdin.setEncoding("utf8");
await once(process.stdin, "data");

let next = 0;
let allowed = 0;
let storeErrors = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < job.calls) {
      const r = await one(next++);
      if (r.allowed) allowed++;
      if (r.storeError) storeErrors++;
    }
  }),
);
process.stdout.write(`${JSON.stringify({ allowed, storeErrors, alerts } satisfies Outcome)}\n`);
await pool?.end();
await sql?.end();
process.exit(0);
