/**
 * Redis benchmark: decisions per second and latency of RedisStore from one Node process with 1, 16
 * and 128 calls in flight, side by side in one run with rate-limiter-flexible's
 * `RateLimiterRedis.consume(key, points)` on the same server and client library, and a bare EVALSHA
 * of a script that returns at once (the floor: one round trip and nothing else).
 *
 * A fourth subject charges a plan of three limits (60 s, a day, a calendar month), for the cost of
 * several limits against one; a fifth runs the one-limit check as a script (`functions: false`,
 * the fallback where a server refuses Redis Functions), for what the library saves. Run with
 * `npm run bench:redis` (REDIS_URL, default redis://127.0.0.1:6379). Rounds alternate the
 * subjects, each round starting one subject later, so that drift in the machine's load hits all
 * of them alike; throughput is the median
 * over rounds, latency percentiles are over every call of every round, and CPU per call (the
 * server's, by INFO cpu, and this process's) the mean over rounds.
 */
import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { Budget, Engine, Ledger } from "../src/index.js";
import { RedisStore } from "../src/stores/redis/index.js";
import { threeLimitPlan } from "./plans.js";
import { printTable, progress, quantile } from "./stats.js";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/** Warm-up calls per subject at each concurrency, enough for V8 to compile every hot path. */
const WARM_UP = 10_000;
const KEYS = 1000;
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,16,128").split(",").map(Number);
/** Calls per round at each concurrency: enough for a stable rate, small enough for a 2-core box. */
const CALLS: Record<number, number> = { 1: 3_000, 16: 15_000, 128: 30_000 };

type Subject = { name: string; op: (i: number) => Promise<unknown> };

interface Round {
  rate: number;
  latencies: Float64Array;
  /** CPU seconds of the Redis server and of this process over the round. */
  serverCpu: number;
  clientCpu: number;
}

/** The server's CPU seconds so far (user and system, INFO cpu). */
async function serverCpu(admin: Redis): Promise<number> {
  const info = await admin.info("cpu");
  const seconds = (name: string) => Number(info.match(new RegExp(`${name}:([\\d.]+)`))?.[1] ?? Number.NaN);
  return seconds("used_cpu_user") + seconds("used_cpu_sys");
}

async function round(subject: Subject, inFlight: number, calls: number, admin: Redis): Promise<Round> {
  const latencies = new Float64Array(calls);
  let next = 0;
  const server0 = await serverCpu(admin);
  const client0 = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (;;) {
        const i = next++;
        if (i >= calls) return;
        const t0 = performance.now();
        await subject.op(i);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  return {
    rate: calls / seconds,
    latencies,
    serverCpu: (await serverCpu(admin)) - server0,
    clientCpu: (client.user + client.system) / 1e6,
  };
}

function ms(value: number): string {
  return `${value.toFixed(value < 1 ? 3 : 2)} ms`;
}

async function main() {
  const clients = [new Redis(url), new Redis(url), new Redis(url)] as const;
  for (const client of clients) await client.ping();
  const server = (await clients[0].info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?";

  const store = new RedisStore(clients[0], { prefix: "bgbench:" });
  const engine = new Engine({ store });
  // The fallback where a server refuses Redis Functions: the same code as a script, by EVALSHA.
  const scriptStore = new RedisStore(clients[0], { prefix: "bgbench:", functions: false });
  const scriptEngine = new Engine({ store: scriptStore });
  const budget = new Budget({ maxSpend: "1000000000", window: 60 });
  const ledgers = Array.from({ length: KEYS }, (_, i) => new Ledger("bench", "model", `user:${i}`));
  // A plan as billing runs it: a burst cap, a day, a calendar month.
  const plan = threeLimitPlan("1000000000");
  const planLedgers = Array.from({ length: KEYS }, (_, i) => new Ledger("bench", "plan", `user:${i}`));

  const limiter = new RateLimiterRedis({
    storeClient: clients[1],
    points: 1_000_000_000,
    duration: 60,
    keyPrefix: "bgbench-rlf",
  });

  const floorSha = String(await clients[2].script("LOAD", "return 1"));

  const subjects: Subject[] = [
    {
      name: "budgetgate RedisStore: engine.check",
      op: async (i) => {
        const decision = await engine.check(ledgers[i % KEYS] as Ledger, "0.000123", budget);
        if (!decision.allowed) throw new Error(`unexpected ${decision.status}: ${decision.message}`);
      },
    },
    { name: "rate-limiter-flexible RateLimiterRedis.consume", op: (i) => limiter.consume(`k${i % KEYS}`, 1) },
    { name: "bare EVALSHA (floor)", op: () => clients[2].evalsha(floorSha, 0) },
    {
      name: "budgetgate RedisStore: engine.check, three limits",
      op: async (i) => {
        const decision = await engine.check(planLedgers[i % KEYS] as Ledger, "0.000123", plan);
        if (!decision.allowed) throw new Error(`unexpected ${decision.status}: ${decision.message}`);
      },
    },
    {
      name: "budgetgate RedisStore: engine.check, scripts (functions: false)",
      op: async (i) => {
        const decision = await scriptEngine.check(ledgers[i % KEYS] as Ledger, "0.000123", budget);
        if (!decision.allowed) throw new Error(`unexpected ${decision.status}: ${decision.message}`);
      },
    },
  ];

  const rows: string[][] = [];
  const ratios: string[][] = [];
  for (const inFlight of CONCURRENCY) {
    const calls = CALLS[inFlight] as number;
    const results = new Map<string, Round[]>();
    for (const subject of subjects) {
      progress(`warm-up: ${subject.name}, ${inFlight} in flight`);
      await round(subject, inFlight, WARM_UP, clients[2]);
      results.set(subject.name, []);
    }
    for (let r = 0; r < ROUNDS; r++) {
      // Each round starts one subject later: no subject always runs first (or after the same one).
      for (let k = 0; k < subjects.length; k++) {
        const subject = subjects[(r + k) % subjects.length] as Subject;
        progress(`round ${r + 1}/${ROUNDS}: ${subject.name}, ${inFlight} in flight`);
        results.get(subject.name)?.push(await round(subject, inFlight, calls, clients[2]));
      }
    }
    const medians = new Map<string, number>();
    for (const subject of subjects) {
      const rounds = results.get(subject.name) as Round[];
      const rate = quantile(
        rounds.map((x) => x.rate),
        0.5,
      );
      medians.set(subject.name, rate);
      const all = rounds.flatMap((x) => Array.from(x.latencies));
      // CPU per decision: less moved than throughput by the load of other processes on the machine.
      const perDecision = (cpu: (x: Round) => number) =>
        `${((rounds.reduce((sum, x) => sum + cpu(x), 0) / (rounds.length * calls)) * 1e6).toFixed(1)} µs`;
      rows.push([
        String(inFlight),
        subject.name,
        Math.round(rate).toLocaleString("en-US"),
        ms(quantile(all, 0.5)),
        ms(quantile(all, 0.99)),
        perDecision((x) => x.serverCpu),
        perDecision((x) => x.clientCpu),
      ]);
    }
    const ours = medians.get(subjects[0]?.name as string) as number;
    ratios.push([
      String(inFlight),
      `${(ours / (medians.get(subjects[1]?.name as string) as number)).toFixed(2)}×`,
      `${(ours / (medians.get(subjects[2]?.name as string) as number)).toFixed(2)}×`,
      // Time per decision, three limits over one: the "within 1.3×".
      `${(ours / (medians.get(subjects[3]?.name as string) as number)).toFixed(2)}×`,
      `${(ours / (medians.get(subjects[4]?.name as string) as number)).toFixed(2)}×`,
    ]);
  }

  console.log(`\nRedis ${server} at ${url}; ${ROUNDS} rounds; ${KEYS} keys/ledgers; ioredis for all three.\n`);
  printTable(
    ["in flight", "subject", "calls/s (median)", "p50", "p99", "server CPU per call", "client CPU per call"],
    rows,
  );
  console.log("");
  printTable(
    [
      "in flight",
      "budgetgate ÷ rate-limiter-flexible",
      "budgetgate ÷ bare EVALSHA",
      "three limits ÷ one (time)",
      "functions ÷ scripts",
    ],
    ratios,
  );

  // Leave the shared server as it was.
  await store.clearAll({
    now: undefined,
    timeoutMs: 60_000,
    deadline: Date.now() + 60_000,
    signal: new AbortController().signal,
  });
  let cursor = "0";
  do {
    const [nextCursor, keys] = await clients[1].scan(cursor, "MATCH", "bgbench-rlf*", "COUNT", 1000);
    if (keys.length > 0) await clients[1].unlink(...keys);
    cursor = nextCursor;
  } while (cursor !== "0");
  for (const client of clients) client.disconnect();
}

await main();
