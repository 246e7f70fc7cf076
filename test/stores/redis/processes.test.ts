import { spawn } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Amount, Budget, Engine, Ledger } from "../../../src/index.js";
import { RedisStore } from "../../../src/stores/redis/index.js";
import { findService } from "../../support/services.js";
import { directCall, uniquePrefix } from "./support/helpers.js";
import type { WorkerConfig, WorkerResult } from "./support/worker.js";

const service = await findService("REDIS_URL");
const PROCESSES = 4;

/** Runs one worker process to completion and parses its result. */
function runWorker(config: WorkerConfig): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/stores/redis/support/worker.ts", JSON.stringify(config)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`worker ${config.worker} exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split("\n").at(-1) as string) as WorkerResult);
    });
  });
}

describe.skipIf(!service.ok)(`RedisStore under ${PROCESSES} processes on one ledger`, () => {
  const prefix = uniquePrefix("procs");
  let client: Redis;
  let engine: Engine;

  beforeAll(() => {
    client = new Redis(service.url);
    engine = new Engine({ store: new RedisStore(client, { prefix }) });
  });

  afterAll(async () => {
    await new RedisStore(client, { prefix }).clearAll(directCall());
    await client.quit();
  });

  async function hammer(
    mode: WorkerConfig["mode"],
    max: string,
    cost: string,
    calls: number,
    skews: readonly number[] = [],
  ) {
    const ns = `${mode}${Date.now().toString(36)}`;
    const startAt = Date.now() + 2500; // after every worker has started
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, (_, worker) =>
        runWorker({
          url: service.url,
          prefix,
          client: worker % 2 === 0 ? "ioredis" : "node-redis",
          mode,
          ns,
          worker,
          calls,
          inFlight: 16,
          max,
          cost,
          startAt,
          ...(skews[worker] === undefined ? {} : { skewHours: skews[worker] }),
        }),
      ),
    );
    for (const r of results) expect(r.errors).toEqual([]);
    const spent = await engine.spent(new Ledger(ns, "shared"), new Budget({ maxSpend: "1000000", window: 3600 }));
    return { results, spent, ns, recorded: results.reduce((sum, r) => sum + BigInt(r.recorded), 0n) };
  }

  it("admits exactly floor(max / cost) fixed costs, and records exactly those", async () => {
    const { results, spent, recorded } = await hammer("fixed", "12.345678901234567891", "0.010000000000000007", 500);
    const cost = Amount.from("0.010000000000000007").units;
    const expected = Amount.from("12.345678901234567891").units / cost; // 1234
    expect(results.reduce((n, r) => n + r.allowed, 0)).toBe(Number(expected));
    expect(spent.units).toBe(expected * cost);
    expect(recorded).toBe(spent.units);
  });

  it("records exactly the committed actuals of a reserve/commit/release mix, never above the budget", async () => {
    const max = Amount.from("3.000000000000000001");
    const { results, spent, recorded } = await hammer("reserve", max.toString(), "0.0123", 400);
    expect(results.reduce((n, r) => n + r.allowed, 0)).toBeGreaterThan(243); // at least floor(max / estimate)
    expect(spent.units).toBe(recorded);
    expect(spent.units <= max.units).toBe(true);
  });

  it("charges a worker's own ledger and the shared one together, all or none", async () => {
    const { results, spent, ns, recorded } = await hammer("multi", "7.77", "0.03", 200);
    expect(results.reduce((n, r) => n + r.allowed, 0)).toBe(259); // floor(7.77 / 0.03)
    expect(spent.units).toBe(recorded);
    for (const [worker, r] of results.entries()) {
      const own = await engine.spent(new Ledger(ns, "own", `worker:${worker}`), new Budget({ maxSpend: 1e6 }));
      expect(own.units).toBe(BigInt(r.recorded));
    }
  });

  it("keeps one calendar period and announces each alert level once, whatever the processes' own clocks say", async () => {
    // Clocks 5 h and 1 h behind, 3 h and 50 h ahead, and no engine clock. The engine sends the
    // day around its estimate and the days either side: 30 h ahead would still include the
    // server's day before 18:00 UTC, so the last is 50 h ahead, whose days never do: the store
    // answers PeriodRangeError and the engine asks again with days around the store's time.
    const skews = [-5, -1, 3, 50];
    const { results, spent, ns, recorded } = await hammer("policy", "1.2", "0.01", 100, skews);
    const allowed = results.reduce((n, r) => n + r.allowed, 0);
    expect(allowed).toBe(120);
    expect(spent.units).toBe(120n * Amount.from("0.01").units);
    expect(recorded).toBe(spent.units);
    const day = new Budget({ maxSpend: "1.2", window: { calendar: "day", timeZone: "UTC" } });
    expect((await engine.spent(new Ledger(ns, "shared"), day)).toString()).toBe("1.2"); // one period holds every spend
    const listed = [];
    for await (const view of engine.ledgers({ namespace: ns })) listed.push(view);
    expect(listed.length).toBe(1);
    expect([...(listed[0]?.windows.keys() ?? [])].sort()).toEqual(["c:day:UTC", "r:3600"]);
    // The process 50 h ahead sent periods that miss the server's day, and was answered so.
    expect(results[3]?.periodErrors).toBeGreaterThan(0);
    expect(results[1]?.periodErrors).toBe(0);
    const levels = results.flatMap((r) => r.thresholds.map((t) => t.level)).sort();
    expect(levels).toEqual([0.5, 0.8, 1]);
    const server = Date.now() / 1000;
    for (const t of results.flatMap((r) => r.thresholds)) expect(Math.abs(t.at - server)).toBeLessThan(120);
  });
});
