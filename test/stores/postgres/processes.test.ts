/**
 * Four processes, each with its own pool, contend on the same ledgers: the totals are exact and
 * no call fails (no deadlock), with one ledger, with several ledgers listed in different orders,
 * with reserve/commit, and with clocks hours apart on a calendar day with alerts (the server's
 * clock picks the one period; each alert level is announced once across the processes).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Budget, Engine, Ledger } from "budgetgate";
import { describe, expect, it } from "vitest";
import { storedKey } from "../../../src/stores/postgres/keys.js";
import { findService } from "../../support/services.js";
import type { Job, Outcome } from "./support/contend-worker.js";

/** As contend-worker's SKEWED_BUDGET (importing it would run the worker). */
const SKEWED_BUDGET = {
  limits: [
    { maxSpend: "10.00", window: { calendar: "day" as const }, alerts: [0.5, 0.8, 1] },
    { maxSpend: "50.00", window: 3600 },
  ],
};

import { suiteStore } from "./support/setup.js";

const service = await findService("DATABASE_URL");
const WORKER = fileURLToPath(new URL("./support/contend-worker.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const PROCESSES = 4;

/** Starts the workers, waits until all are connected, starts them together, collects outcomes. */
async function contend(jobs: readonly Job[]): Promise<Outcome[]> {
  const children: ChildProcess[] = [];
  try {
    const lines = jobs.map((job) => {
      const child = spawn(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(job)], {
        cwd: ROOT,
        stdio: ["pipe", "pipe", "pipe"],
      });
      children.push(child);
      let stderr = "";
      child.stderr?.on("data", (chunk) => {
        stderr += chunk;
      });
      const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      const queue: string[] = [];
      const waiters: ((line: string) => void)[] = [];
      reader.on("line", (line) => {
        const waiter = waiters.shift();
        if (waiter) waiter(line);
        else queue.push(line);
      });
      const exited = new Promise<never>((_, reject) => {
        child.on("exit", (code) => reject(new Error(`worker ${job.worker} exited with ${code}: ${stderr}`)));
      });
      const next = () =>
        Promise.race([
          new Promise<string>((resolve) => {
            const line = queue.shift();
            if (line !== undefined) resolve(line);
            else waiters.push(resolve);
          }),
          exited,
        ]);
      return next;
    });
    expect(await Promise.all(lines.map((next) => next()))).toEqual(jobs.map(() => "ready"));
    for (const child of children) child.stdin?.write("go\n");
    return (await Promise.all(lines.map((next) => next()))).map((line) => JSON.parse(line) as Outcome);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

describe.skipIf(!service.ok)("PostgresStore across processes", () => {
  const suite = suiteStore(service.url, "procs");

  const jobs = (mode: Job["mode"], calls: number, ns: string, skews?: readonly number[]): Job[] =>
    Array.from({ length: PROCESSES }, (_, worker) => ({
      url: service.url,
      prefix: suite.prefix,
      ns,
      worker,
      mode,
      calls,
      driver: worker % 2 === 0 ? "pg" : "postgres.js",
      ...(skews === undefined ? {} : { skewMs: skews[worker] as number }),
    }));
  const ns = () => `w${randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const ledger = (n: string, principal: string) => new Ledger(n, "model", principal);

  it("admits exactly floor(max / cost) on one ledger, and records exactly that", async () => {
    const n = ns();
    const outcomes = await contend(jobs("single", 60, n)); // 240 attempts at 0.07 against 10.00
    expect(outcomes.map((o) => o.storeErrors)).toEqual([0, 0, 0, 0]);
    expect(outcomes.reduce((sum, o) => sum + o.allowed, 0)).toBe(142);
    const spent = await new Engine({ store: suite.store }).spent(
      ledger(n, "global"),
      new Budget({ maxSpend: "10.00" }),
    );
    expect(spent.toString()).toBe("9.94");
  }, 60_000);

  it("charges several ledgers listed in different orders without deadlock, all or none", async () => {
    const n = ns();
    const outcomes = await contend(jobs("multi", 40, n));
    expect(outcomes.map((o) => o.storeErrors)).toEqual([0, 0, 0, 0]);
    const engine = new Engine({ store: suite.store });
    const budget = new Budget({ maxSpend: "1000" });
    const spent = async (principal: string) => (await engine.spent(ledger(n, principal), budget)).units;
    const unit = 5n * 10n ** 16n; // 0.05
    const allowed = outcomes.map((o) => BigInt(o.allowed));
    const [a0, a1, a2, a3] = allowed as [bigint, bigint, bigint, bigint];
    expect(await spent("org")).toBe((a0 + a1 + a2 + a3) * unit);
    expect(await spent("org")).toBe(50n * unit); // org's 2.50 is the binding limit: 50 of 160 fit
    expect(await spent("team:0")).toBe((a0 + a2) * unit);
    expect(await spent("team:1")).toBe((a1 + a3) * unit);
    for (let w = 0; w < PROCESSES; w++) expect(await spent(`user:${w}`)).toBe((allowed[w] as bigint) * unit);
    expect(await spent("team:0")).toBeLessThanOrEqual(30n * unit);
    expect(await spent("team:1")).toBeLessThanOrEqual(30n * unit);
  }, 60_000);

  it("reserves and commits exactly under contention", async () => {
    const n = ns();
    const outcomes = await contend(jobs("reserve", 20, n)); // holds of 0.5 committed at 0.25, max 10.00
    expect(outcomes.map((o) => o.storeErrors)).toEqual([0, 0, 0, 0]);
    const held = outcomes.reduce((sum, o) => sum + o.allowed, 0);
    expect(held).toBeGreaterThanOrEqual(20); // at most 32 in flight at once, each holding 0.5: 20 always fit
    const spent = await new Engine({ store: suite.store }).spent(
      ledger(n, "global"),
      new Budget({ maxSpend: "10.00" }),
    );
    expect(spent.units).toBe(BigInt(held) * 25n * 10n ** 16n);
    expect(spent.lte("10.00")).toBe(true);
  }, 60_000);

  it("keeps one calendar period, exact, with each alert announced once, when the processes' clocks are hours apart", async () => {
    const n = ns();
    const hour = 3_600_000;
    // -5 h and -1 h may fall in the server's previous day, +3 h in its next; +30 h is outside every
    // period the engine sends, so that process's first call meets PeriodRangeError and retries.
    const outcomes = await contend(jobs("skewed", 60, n, [-5 * hour, -1 * hour, 3 * hour, 30 * hour]));
    expect(outcomes.map((o) => o.storeErrors)).toEqual([0, 0, 0, 0]);
    // 240 attempts at 0.05 against 10.00 a day: exactly 200 fit, and no more.
    expect(outcomes.reduce((sum, o) => sum + o.allowed, 0)).toBe(200);
    const alerts = outcomes.flatMap((o) => o.alerts).sort();
    expect(alerts).toEqual(["0:0.5", "0:0.8", "0:1"]);
    const engine = new Engine({ store: suite.store });
    const usage = await engine.usage(ledger(n, "global"), new Budget(SKEWED_BUDGET));
    expect(usage.limits.map((part) => part.spent.units)).toEqual([10n * 10n ** 18n, 10n * 10n ** 18n]);
    // One period: the server's day, the only calendar total the ledger keeps.
    const { rows } = await suite.pool.query<{ ids: string[]; from: number[]; to: number[]; server: number }>(
      `SELECT w_ids AS ids, w_from AS from, w_to AS to, extract(epoch FROM clock_timestamp())::float8 AS server
         FROM ${suite.prefix}_ledgers WHERE key = $1`,
      [storedKey(ledger(n, "global").toString())],
    );
    const row = rows[0];
    expect(row?.ids.filter((id) => id.startsWith("c:"))).toHaveLength(1);
    const k = row?.ids.findIndex((id) => id.startsWith("c:")) as number;
    const day = Math.floor((row?.server as number) / 86_400) * 86_400;
    expect([Number(row?.from[k]), Number(row?.to[k])]).toEqual([day, day + 86_400]);
  }, 60_000);
});
