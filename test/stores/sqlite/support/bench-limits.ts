/**
 * `check` with three limits (rolling 60 s, rolling 86,400 s, calendar month) beside a one-limit
 * check, on SqliteStore over a WAL file, same run, alternating rounds:
 * `node --import tsx test/stores/sqlite/support/bench-limits.ts [synchronous]`. Prints µs per call.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Budget, Engine, Ledger } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import { threeLimitPlan } from "../../../../bench/plans.js";

const synchronous = (process.argv[2] ?? "normal") as "full" | "normal";
const ROUNDS = 7;
const CALLS = synchronous === "full" ? 1000 : 4000;

const dir = mkdtempSync(join(tmpdir(), "budgetgate-bench-limits-"));
const store = new SqliteStore(join(dir, "bench.db"), { synchronous });
const engine = new Engine({ store });
const one = new Budget({ maxSpend: "1000000000", window: 60 });
const three = threeLimitPlan("1000000000");
const variants = [
  { name: "1 limit ", budget: one, ledger: new Ledger("bench", "model", "one"), us: [] as number[] },
  { name: "3 limits", budget: three, ledger: new Ledger("bench", "model", "three"), us: [] as number[] },
];

for (let round = -1; round < ROUNDS; round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) {
      const decision = await engine.check(v.ledger, "0.000001", v.budget);
      if (!decision.allowed) throw new Error(decision.message ?? "blocked");
    }
    const us = Number(process.hrtime.bigint() - started) / 1000 / CALLS;
    if (round >= 0) v.us.push(us); // round -1 warms up
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const v of variants) {
  console.log(`${v.name}: ${median(v.us).toFixed(1)} µs/call (rounds ${v.us.map((x) => x.toFixed(1)).join(", ")})`);
}
console.log(
  `ratio 3/1: ${(median(variants[1]?.us ?? []) / median(variants[0]?.us ?? [])).toFixed(2)} (synchronous ${synchronous}, ${CALLS} calls per round)`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
