/**
 * A child process for the multi-process Redis tests: hammers shared ledgers through its own client
 * and engine, and prints what it was granted as one JSON line. Run by test/stores/redis/processes.test.ts.
 */
import { Redis } from "ioredis";
import { createClient } from "redis";
import { Amount, Budget, Engine, Ledger, PeriodRangeError } from "../../../../src/index.js";
import type { Store } from "../../../../src/store.js";
import { RedisStore } from "../../../../src/stores/redis/index.js";

export interface WorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly client: "ioredis" | "node-redis";
  readonly mode: "fixed" | "reserve" | "multi" | "policy";
  readonly ns: string;
  readonly worker: number;
  readonly calls: number;
  readonly inFlight: number;
  readonly max: string;
  readonly cost: string;
  /** Date.now() at which to start, so that the workers contend (by the real clock). */
  readonly startAt: number;
  /** Hours this process's own clock is off (Date.now patched): the store's clock must decide. */
  readonly skewHours?: number;
}

/** A threshold event as a worker reports it. */
export interface ReportedThreshold {
  readonly level: number;
  readonly spent: string;
  readonly at: number;
}

export interface WorkerResult {
  readonly allowed: number;
  /** Units recorded by this worker's allowed calls and commits. */
  readonly recorded: string;
  readonly errors: readonly string[];
  /** Threshold events this worker's engine was told of (mode policy). */
  readonly thresholds: readonly ReportedThreshold[];
  /** PeriodRangeErrors the store answered to charges. */
  readonly periodErrors: number;
}

const config = JSON.parse(process.argv[2] as string) as WorkerConfig;
const realNow = Date.now.bind(Date);
if (config.skewHours !== undefined) {
  const skew = config.skewHours * 3_600_000;
  Date.now = () => realNow() + skew;
}

async function connect(): Promise<{ store: Store; close(): Promise<unknown> }> {
  if (config.client === "ioredis") {
    const client = new Redis(config.url);
    return { store: new RedisStore(client, { prefix: config.prefix }), close: () => client.quit() };
  }
  const client = createClient({ url: config.url });
  await client.connect();
  return { store: new RedisStore(client, { prefix: config.prefix }), close: () => client.quit() };
}

const connected = await connect();
const close = connected.close;
/** PeriodRangeErrors the store answered: the engine's retry path, for a clock whose periods miss the store's. */
let periodErrors = 0;
const inner = connected.store;
const store: Store = {
  charge: (lines, amount, call) =>
    Promise.resolve(inner.charge(lines, amount, call)).catch((error: unknown) => {
      if (error instanceof PeriodRangeError) periodErrors++;
      throw error;
    }),
  reserve: (...args) => inner.reserve(...args),
  commit: (...args) => inner.commit(...args),
  release: (...args) => inner.release(...args),
  read: (...args) => inner.read(...args),
  scan: (...args) => inner.scan(...args),
  clear: (...args) => inner.clear(...args),
  clearAll: (...args) => inner.clearAll(...args),
};
const engine = new Engine({ store, storeTimeoutMs: 10_000 });
const shared = new Ledger(config.ns, "shared");
const own = new Ledger(config.ns, "own", `worker:${config.worker}`);
const budget =
  config.mode === "policy"
    ? new Budget({
        limits: [
          { maxSpend: config.max, window: { calendar: "day", timeZone: "UTC" }, alerts: [0.5, 0.8, 1] },
          { maxSpend: "1000000", window: 3600 },
        ],
      })
    : new Budget({ maxSpend: config.max, window: 3600 });
const thresholds: ReportedThreshold[] = [];
engine.onThreshold((event) => {
  thresholds.push({ level: event.level, spent: event.spent.toString(), at: event.at });
});
const roomy = new Budget({ maxSpend: "1000000", window: 3600 });
const cost = Amount.from(config.cost);
/** Actual costs of reserve/commit, all at most the estimate `cost`; 0 is a release. */
const actuals = [cost, Amount.fromUnits(cost.units / 2n, 18), Amount.fromUnits(cost.units / 3n, 18), Amount.ZERO];

let allowed = 0;
let recorded = 0n;
const errors: string[] = [];

async function once(i: number): Promise<void> {
  if (config.mode === "fixed" || config.mode === "multi" || config.mode === "policy") {
    const targets =
      config.mode !== "multi"
        ? shared
        : [
            { ledger: own, budget: roomy },
            { ledger: shared, budget },
          ];
    const decision = await engine.check(targets, cost, budget);
    if (decision.reason === "STORE_ERROR") errors.push(decision.message ?? "store error");
    if (decision.allowed) {
      allowed++;
      recorded += cost.units;
    }
    return;
  }
  const { reservation, decision } = await engine.reserve(shared, cost, budget);
  if (decision.reason === "STORE_ERROR") errors.push(decision.message ?? "store error");
  if (!reservation) return;
  allowed++;
  const actual = actuals[(i + config.worker) % actuals.length] as Amount;
  if (actual.isZero()) {
    await engine.release(reservation);
    return;
  }
  await engine.commit(reservation, actual);
  recorded += actual.units;
}

await new Promise((resolve) => setTimeout(resolve, Math.max(0, config.startAt - realNow())));
let next = 0;
await Promise.all(
  Array.from({ length: config.inFlight }, async () => {
    for (let i = next++; i < config.calls; i = next++) {
      try {
        await once(i);
      } catch (error) {
        errors.push(String(error));
      }
    }
  }),
);
await close();
const result: WorkerResult = {
  allowed,
  recorded: recorded.toString(),
  errors: errors.slice(0, 5),
  thresholds,
  periodErrors,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
