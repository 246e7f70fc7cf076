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

/**
 * The median time per call of each subject, the subjects measured side by side: every sample runs
 * one batch of each, in an order that rotates, so that a drift in the machine's speed (which on a
 * shared VM moves absolute figures by half within a minute) hits every subject alike.
 */
async function sideBySide(subjects: readonly (() => Promise<unknown>)[], samples = SAMPLES): Promise<number[]> {
  for (const fn of subjects) for (let i = 0; i < 20_000; i++) await fn(); // warm up the JIT
  const perCall: number[][] = subjects.map(() => []);
  for (let s = 0; s < samples; s++) {
    for (let k = 0; k < subjects.length; k++) {
      const j = (s + k) % subjects.length;
      const fn = subjects[j] as () => Promise<unknown>;
      const start = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) await fn();
      (perCall[j] as number[]).push(Number(process.hrtime.bigint() - start) / BATCH);
    }
  }
  return perCall.map((times) => quantile(times, 0.5));
}

/**
 * Measures `subjects` side by side and prints them as a table under `title`, each with its median
 * and its ratio to the first subject's.
 */
async function printSideBySide(
  title: string,
  headers: readonly [string, string, string],
  subjects: readonly (readonly [string, () => Promise<unknown>])[],
): Promise<void> {
  const medians = await sideBySide(subjects.map(([, fn]) => fn));
  const base = medians[0] as number;
  console.log(`\n### ${title}\n`);
  printTable(
    headers,
    subjects.map(([label], i) => {
      const median = medians[i] as number;
      return [label, formatNs(median), `${(median / base).toFixed(2)}×`];
    }),
  );
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
 * cycling through KEYS keys, measured side by side and printed.
 */
async function besideRateLimiterFlexible(): Promise<void> {
  const engine = new Engine();
  const budget = new Budget({ maxSpend: "1000000000000", window: 3600 });
  const ledgers = Array.from({ length: KEYS }, (_, i) => new Ledger("bench", "model", `user:${i}`));
  for (const ledger of ledgers) engine.register(ledger, budget);
  // A fixed window, as RateLimiterMemory's is (a count that restarts): no log of spends to keep.
  const dayEngine = new Engine();
  const day = new Budget({ maxSpend: "1000000000000", window: { calendar: "day" } });
  for (const ledger of ledgers) dayEngine.register(ledger, day);
  const limiter = new RateLimiterMemory({ points: 1e15, duration: 3600 });
  const keys = ledgers.map((ledger) => ledger.toString());
  let a = 0;
  let b = 0;
  let c = 0;
  await printSideBySide(
    `check ALLOW beside rate-limiter-flexible (${KEYS.toLocaleString("en")} keys each, side by side)`,
    ["subject", "median", "ratio"],
    [
      ["RateLimiterMemory.consume(key, 1)", () => limiter.consume(keys[b++ % KEYS] as string, 1)],
      ['engine.check(registered ledger, "0.000123")', () => engine.check(ledgers[a++ % KEYS] as Ledger, "0.000123")],
      [
        'engine.check(registered ledger, "0.000123"), a calendar-day limit',
        () => dayEngine.check(ledgers[c++ % KEYS] as Ledger, "0.000123"),
      ],
    ],
  );
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
  await besideRateLimiterFlexible();

  progress("guard beside check");
  const checkSide = new Engine();
  const guardSide = new Engine();
  const guardedSide = guardSide.guard(ledger, roomy, { cost: "0.03" })(() => undefined);
  await printSideBySide(
    "guard beside check (side by side), memory store",
    ["operation", "median", "ratio"],
    [
      ['check(ledger, "0.03", budget)', () => checkSide.check(ledger, "0.03", roomy)],
      ["guard, no-op function", () => guardedSide()],
    ],
  );

  progress("three limits beside one");
  const oneEngine = new Engine();
  const threeEngine = new Engine();
  const plan = threeLimitPlan("1000000000000");
  await printSideBySide(
    "One limit against three (burst 60 s, day 86,400 s, calendar month), side by side, memory store",
    ["budget", "median", "ratio"],
    [
      ["one limit (3,600 s)", () => oneEngine.check(ledger, "0.03", roomy)],
      ["three limits", () => threeEngine.check(ledger, "0.03", plan)],
    ],
  );

  const sizes = [10, 10_000, 1_000_000];
  const rigs = [];
  for (const live of sizes) {
    progress(`filling a window with ${live.toLocaleString("en")} live spends`);
    const rig = steadyEngine(live);
    await rig.fill();
    rigs.push(rig);
  }
  progress("check ALLOW against history");
  await printSideBySide(
    "check ALLOW against history (window kept at a steady number of live spends; side by side)",
    ["live spends", "median", "vs 10"],
    rigs.map((rig, i) => [(sizes[i] as number).toLocaleString("en"), rig.check] as const),
  );

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
