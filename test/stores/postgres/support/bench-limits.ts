/**
 * `check` with three limits (rolling 60 s, rolling 86,400 s, calendar month) beside a one-limit
 * check (rolling 60 s), on PostgresStore, same run, alternating rounds, at 1 and at 32 calls in
 * flight on one hot ledger per variant:
 * `node --import tsx test/stores/postgres/support/bench-limits.ts [url]`. Prints decisions/s.
 * Tables under a prefix of their own, dropped afterwards.
 */
import { Budget, Engine, Ledger } from "budgetgate";
import { PostgresStore } from "budgetgate/postgres";
import pg from "pg";
import { threeLimitPlan } from "../../../../bench/plans.js";
import { dropPrefix, testPrefix } from "./setup.js";

const url = process.argv[2] ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ROUNDS = 5;
const SECONDS = 2;

const pool = new pg.Pool({ connectionString: url, max: 32 });
pool.on("error", () => {});
const prefix = testPrefix("bench");
const store = new PostgresStore(pool, { prefix });
await store.migrate();
const engine = new Engine({ store, storeTimeoutMs: 10_000 });
const one = new Budget({ maxSpend: "1000000000", window: 60 });
const three = threeLimitPlan("1000000000");
const variants = [
  { name: "1 limit ", budget: one, ledger: new Ledger("bench", "model", "one") },
  { name: "3 limits", budget: three, ledger: new Ledger("bench", "model", "three") },
];

async function rate(v: (typeof variants)[number], inFlight: number): Promise<number> {
  let done = 0;
  const until = Date.now() + SECONDS * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        const decision = await engine.check(v.ledger, "0.000001", v.budget);
        if (!decision.allowed) throw new Error(decision.message ?? "blocked");
        done++;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
try {
  for (const inFlight of [1, 32]) {
    const rates = variants.map(() => [] as number[]);
    for (let round = -1; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const r = await rate(variants[i] as (typeof variants)[number], inFlight);
        if (round >= 0) rates[i]?.push(r); // round -1 warms up
      }
    }
    for (const [i, v] of variants.entries()) {
      const rs = rates[i] as number[];
      console.log(
        `${inFlight} in flight, ${v.name}: ${median(rs).toFixed(0)} decisions/s (rounds ${rs.map((x) => x.toFixed(0)).join(", ")})`,
      );
    }
    console.log(
      `${inFlight} in flight, ratio 1/3 (time per decision, 3 limits / 1): ${(median(rates[0] as number[]) / median(rates[1] as number[])).toFixed(2)}`,
    );
  }
} finally {
  await dropPrefix(pool, prefix);
  await pool.end();
}
