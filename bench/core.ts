/**
 * Core benchmark: latency of decisions on the in-memory store, flatness against history, and heap
 * per live spend. Run with `npm run bench` (node --expose-gc, so heap figures are after a full GC).
 *
 * Sub-microsecond calls cannot be timed one by one without the timer dominating, so each sample is
 * the mean of a batch of BATCH sequential awaited calls; medians and p99s are over those samples.
 */
import { RateLimiterMemory } from "rate-limiter-flexible";
import { Amount, Budget, Engine, Ledger, MemoryStore } from "../src/index.js";
import { threeLimitPlan } from "./plans.js";
import { formatNs, printTable, progress, quantile } from "./stats.js";

const BATCH = 100;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 3000);
/** Keys each side of the rate-limiter-flexible comparison cycles through. */
const KEYS = 1000;

async function sample(fn: () => Promise<unknown>, samples = SAMPLES): Promise<{ median: number; p99: number }> {
  for (let i = 0; i < 20_000; i++) await fn(); // warm up the JIT
  const perCall: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) await fn();
    perCall.push(Number(process.hrtime.bigint() - start) / BATCH);
  }
  return { median: quantile(perCall, 0.5), p99: quantile(perCall, 0.99) };
}

/** An engine whose one ledger holds `live` spends in its window, kept steady as time moves on. */
function steadyEngine(live: number) {
  const window = 3600;
  const step = window / live; // one spend expires for each one recorded
  const clock = { now: 0 };
  const engine = new Engine({ clock: () => clock.now });
  const ledger = new Ledger("bench", "model", `live-${live}`);
  const budget = new Budget({ maxSpend: "1000000000000", window });
  const cost = Amount.from("0.000123");
  return {
    engine,
    async fill() {
      for (let i = 0; i < live; i++) {
        await engine.check(ledger, cost, budget);
        clock.now += step;
      }
    },
    check: () => {
      clock.now += step;
      return engine.check(ledger, cost, budget);
    },
  };
}

/**
 * `engine.check` on registered ledgers, cost as a string, beside `RateLimiterMemory.consume`, each
 * cycling through KEYS keys, in alternating rounds: the median of each side's round medians.
 */
async function besideRateLimiterFlexible(): Promise<{ check: number; rlf: number }> {
  const engine = new Engine();
  const budget = new Budget({ maxSpend: "1000000000000", window: 3600 });
  const ledgers = Array.from({ length: KEYS }, (_, i) => new Ledger("bench", "model", `user:${i}`));
  for (const ledger of ledgers) engine.register(ledger, budget);
  const limiter = new RateLimiterMemory({ points: 1e15, duration: 3600 });
  const keys = ledgers.map((ledger) => ledger.toString());
  let a = 0;
  let b = 0;
  const check = () => engine.check(ledgers[a++ % KEYS] as Ledger, "0.000123");
  const consume = () => limiter.consume(keys[b++ % KEYS] as string, 1);
  const checkRounds: number[] = [];
  const rlfRounds: number[] = [];
  for (let round = 0; round < 7; round++) {
    checkRounds.push((await sample(check, SAMPLES / 7)).median);
    rlfRounds.push((await sample(consume, SAMPLES / 7)).median);
  }
  return { check: quantile(checkRounds, 0.5), rlf: quantile(rlfRounds, 0.5) };
}

/** Heap per ledger that was charged once and left: what a store with a user per ledger keeps. */
async function idleLedgerBytes(n: number): Promise<number> {
  const store = new MemoryStore();
  const engine = new Engine({ store, clock: () => 1000 });
  const budget = new Budget({ maxSpend: "10", window: 3600 });
  await engine.check(new Ledger("bench", "idle", "warm-up"), "0.000123", budget);
  const before = heapUsed();
  // The Ledger objects go as soon as each call is made: only what the store keeps is counted.
  for (let i = 0; i < n; i++) await engine.check(new Ledger("bench", "idle", `user:${i}`), "0.000123", budget);
  const after = heapUsed();
  if (store.liveLedgers !== n + 1) throw new Error(`expected ${n + 1} ledgers, found ${store.liveLedgers}`);
  return (after - before) / n;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function main() {
  const rows: string[][] = [];
  const ledger = new Ledger("bench", "model");
  const roomy = new Budget({ maxSpend: "1000000000000", window: 3600 });
  const none = new Budget({ maxSpend: 0, window: 3600 });

  progress("check ALLOW");
  const allowEngine = new Engine();
  const allow = await sample(() => allowEngine.check(ledger, "0.03", roomy));
  rows.push(["check ALLOW (cost as a string)", formatNs(allow.median), formatNs(allow.p99)]);

  progress("check BLOCK");
  const blockEngine = new Engine();
  const block = await sample(() => blockEngine.check(ledger, "0.03", none));
  rows.push(["check BLOCK", formatNs(block.median), formatNs(block.p99)]);

  progress("guard");
  const guardEngine = new Engine();
  const guarded = guardEngine.guard(ledger, roomy, { cost: "0.03" })(() => undefined);
  const guard = await sample(() => guarded());
  rows.push(["guard, no-op function", formatNs(guard.median), formatNs(guard.p99)]);

  progress("guardResult");
  const resultEngine = new Engine();
  const guardedResult = resultEngine.guardResult(ledger, roomy, { cost: "0.03" })(() => undefined);
  const result = await sample(() => guardedResult());
  rows.push(["guardResult, no-op function", formatNs(result.median), formatNs(result.p99)]);

  progress("reserve + commit");
  const boundedEngine = new Engine();
  const bounded = boundedEngine.guardBounded(ledger, roomy, { estimate: "0.05", actual: () => "0.03" })(
    () => undefined,
  );
  const boundedStats = await sample(() => bounded(), SAMPLES / 3);
  rows.push(["guardBounded (reserve + commit), no-op", formatNs(boundedStats.median), formatNs(boundedStats.p99)]);

  console.log("\n### Decision latency, memory store (per call; batches of 100)\n");
  printTable(["operation", "median", "p99"], rows);

  // What a TypeScript user reaches for today: a counter per key, with one call per decision.
  progress("check ALLOW beside rate-limiter-flexible");
  const rival = await besideRateLimiterFlexible();
  console.log(
    `\n### check ALLOW beside rate-limiter-flexible (${KEYS.toLocaleString("en")} keys each, 7 alternating rounds)\n`,
  );
  printTable(
    ["subject", "median of 7 rounds", "ratio"],
    [
      ["RateLimiterMemory.consume(key, 1)", formatNs(rival.rlf), "1.00×"],
      [
        'engine.check(registered ledger, "0.000123")',
        formatNs(rival.check),
        `${(rival.check / rival.rlf).toFixed(2)}×`,
      ],
    ],
  );

  // Side by side, in alternating rounds, so that both see the same machine.
  progress("guard beside check");
  const checkSide = new Engine();
  const guardSide = new Engine();
  const guardedSide = guardSide.guard(ledger, roomy, { cost: "0.03" })(() => undefined);
  const checkRounds: number[] = [];
  const guardRounds: number[] = [];
  for (let round = 0; round < 7; round++) {
    checkRounds.push((await sample(() => checkSide.check(ledger, "0.03", roomy), SAMPLES / 7)).median);
    guardRounds.push((await sample(() => guardedSide(), SAMPLES / 7)).median);
  }
  const checked = quantile(checkRounds, 0.5);
  const guardedMedian = quantile(guardRounds, 0.5);
  console.log("\n### guard beside check (7 alternating rounds), memory store\n");
  printTable(
    ["operation", "median of 7 rounds", "ratio"],
    [
      ['check(ledger, "0.03", budget)', formatNs(checked), "1.00×"],
      ["guard, no-op function", formatNs(guardedMedian), `${(guardedMedian / checked).toFixed(2)}×`],
    ],
  );

  progress("three limits beside one");
  const oneEngine = new Engine();
  const threeEngine = new Engine();
  const plan = threeLimitPlan("1000000000000");
  const oneRounds: number[] = [];
  const threeRounds: number[] = [];
  for (let round = 0; round < 7; round++) {
    oneRounds.push((await sample(() => oneEngine.check(ledger, "0.03", roomy), SAMPLES / 7)).median);
    threeRounds.push((await sample(() => threeEngine.check(ledger, "0.03", plan), SAMPLES / 7)).median);
  }
  const one = quantile(oneRounds, 0.5);
  const three = quantile(threeRounds, 0.5);
  console.log("\n### One limit against three (burst 60 s, day 86,400 s, calendar month), memory store\n");
  printTable(
    ["budget", "median of 7 rounds", "ratio"],
    [
      ["one limit (3,600 s)", formatNs(one), "1.00×"],
      ["three limits", formatNs(three), `${(three / one).toFixed(2)}×`],
    ],
  );

  // The three rigs in alternating rounds, so that all see the same machine.
  const sizes = [10, 10_000, 1_000_000];
  const rigs = [];
  for (const live of sizes) {
    progress(`filling a window with ${live.toLocaleString("en")} live spends`);
    const rig = steadyEngine(live);
    await rig.fill();
    rigs.push(rig);
  }
  progress("check ALLOW against history");
  const historyRounds: number[][] = sizes.map(() => []);
  for (let round = 0; round < 7; round++) {
    for (const [i, rig] of rigs.entries()) {
      (historyRounds[i] as number[]).push((await sample(rig.check, SAMPLES / 7)).median);
    }
  }
  const medians = historyRounds.map((rounds) => quantile(rounds, 0.5));
  const base = medians[0] as number;
  const history = sizes.map((live, i) => [
    live.toLocaleString("en"),
    formatNs(medians[i] as number),
    `${((medians[i] as number) / base).toFixed(2)}×`,
  ]);
  console.log(
    "\n### check ALLOW against history (window kept at a steady number of live spends; 7 alternating rounds)\n",
  );
  printTable(["live spends", "median of 7 rounds", "vs 10"], history);

  progress("heap per live spend");
  const store = new MemoryStore();
  const clock = { now: 0 };
  const engine = new Engine({ store, clock: () => clock.now });
  // A rolling window longer than the run: a lifetime limit keeps a total, not a log of spends.
  const budget = new Budget({ maxSpend: "1000000000000", window: 1e9 });
  const heapLedger = new Ledger("bench", "heap");
  await engine.check(heapLedger, "0.000123", budget);
  const before = heapUsed();
  const n = 1_000_000;
  for (let i = 0; i < n; i++) {
    clock.now += 0.001;
    // A distinct amount per spend, so that each holds its own bigint as real traffic would.
    await engine.check(heapLedger, Amount.fromUnits(123_000_000_000_000n + BigInt(i)), budget);
  }
  const after = heapUsed();
  console.log("\n### Memory\n");
  printTable(
    ["live spends", "heap growth", "bytes per live spend"],
    [[n.toLocaleString("en"), `${((after - before) / 2 ** 20).toFixed(1)} MiB`, ((after - before) / n).toFixed(1)]],
  );
  if (store.liveSpends !== n + 1) throw new Error(`expected ${n + 1} live spends, found ${store.liveSpends}`);

  progress("heap per idle ledger");
  const idle = await idleLedgerBytes(100_000);
  console.log("\n### Memory per idle ledger (charged once, one rolling limit, key included)\n");
  printTable(["ledgers", "bytes per ledger"], [["100,000", idle.toFixed(1)]]);
  console.log(`\nNode ${process.version}, ${process.platform} ${process.arch}; ${new Date().toISOString()}`);
}

await main();
