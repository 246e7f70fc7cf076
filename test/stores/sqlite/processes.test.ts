/**
 * SqliteStore across processes: several processes on one file enforce one budget exactly, and a
 * process killed with SIGKILL in the middle of its writes loses no committed spend.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Amount, Budget, Engine, Ledger } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, type SqliteDriver } from "../../../src/stores/sqlite/driver.js";
import { scriptCommand, sqliteDrivers } from "./support/drivers.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const workerPath = join(root, "test", "stores", "sqlite", "support", "worker.ts");
const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-proc-"));
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function worker(args: {
  readonly mode: string;
  readonly driver: SqliteDriver;
  readonly [more: string]: unknown;
}): ChildProcess {
  const [command, argv] = scriptCommand(workerPath, JSON.stringify(args));
  const child = spawn(command, argv, {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  // A worker never outlives its test, whatever happens to the test.
  const guard = setTimeout(() => child.kill("SIGKILL"), 25_000);
  child.once("exit", () => {
    clearTimeout(guard);
    children.delete(child);
  });
  return child;
}

/** Resolves with the child's stdout lines once it printed `count` of them. */
function lines(child: ChildProcess, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const seen = () => out.split("\n").filter((line) => line.length > 0);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (seen().length >= count) resolve(seen());
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once("exit", (code) => {
      if (seen().length < count) reject(new Error(`worker exited (${code}) after ${seen().length} lines: ${err}`));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(sqliteDrivers)("SqliteStore on %s shared by several processes", (driver) => {
  it("admits exactly what the budget allows when 4 processes contend for one ledger", async () => {
    const path = join(dir, `contend-${driver.replace(":", "-")}.db`);
    const ns = `p${randomUUID().slice(0, 8)}`;
    await new SqliteStore(path, { driver }).close(); // the schema exists before the race begins
    const workers = [0, 1, 2, 3].map((n) => worker({ mode: "contend", path, worker: n, ns, driver }));
    const ready = workers.map((child) => lines(child, 1));
    await Promise.all(ready);
    const results = workers.map((child) => lines(child, 1));
    for (const child of workers) child.stdin?.write("go\n");
    const reports = (await Promise.all(results)).map(
      (out) =>
        JSON.parse(out[0] as string) as {
          worker: number;
          allowed: number;
          storeErrors: number;
          held: number;
          committed: string;
        },
    );

    const store = new SqliteStore(path, { driver });
    const engine = new Engine({ store });
    const roomy = new Budget({ maxSpend: "1000" });
    const spent = async (principal: string) => (await engine.spent(new Ledger(ns, "model", principal), roomy)).units;

    // First, so that a worker stopped by store errors says so before the totals it left short.
    expect(reports.map((r) => r.storeErrors)).toEqual([0, 0, 0, 0]);
    // Phase 1, charges: floor(50.00 / 0.07) = 714 admitted in all, whoever won the races (how they
    // split between processes is the scheduler's business: under load one may take them all).
    const allowed = reports.reduce((sum, r) => sum + r.allowed, 0);
    expect(allowed).toBe(714);
    expect(await spent("org")).toBe(Amount.from("49.98").units);

    // Phase 2, reserve 0.10 / commit 0.04: every recorded cent is on both ledgers, within budget.
    const committed = reports.reduce((sum, r) => sum + Amount.from(r.committed).units, 0n);
    const held = reports.reduce((sum, r) => sum + r.held, 0);
    expect(committed).toBe(Amount.from("0.04").units * BigInt(held));
    expect(await spent("team")).toBe(committed);
    expect(committed <= Amount.from("20.00").units).toBe(true);
    // Nothing blocked while 0.10 fitted: at most the three other workers' holds were in flight.
    expect(committed + 3n * Amount.from("0.10").units + Amount.from("0.10").units > Amount.from("20").units).toBe(true);

    // Each process's own ledger got exactly what it reported, and the org ledger their sum.
    for (const r of reports) {
      const mine = Amount.from("0.07").units * BigInt(r.allowed) + Amount.from(r.committed).units;
      expect(await spent(`user:${r.worker}`)).toBe(mine);
    }
    await store.close();
  });

  it("keeps one calendar day and announces each threshold once when 4 processes' clocks are hours apart", async () => {
    // The store's time is SQLite's (the host's clock), so a real midnight during the race would
    // rightly start a new day: wait it out rather than test across it.
    const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
    if (untilMidnight < 60_000) await sleep(untilMidnight + 1000);
    const path = join(dir, `skew-${driver.replace(":", "-")}.db`);
    const ns = `w${randomUUID().slice(0, 8)}`;
    await new SqliteStore(path, { driver }).close();
    const skews = [-5, -1, 3, 30];
    const workers = skews.map((skewHours) => worker({ mode: "skew", path, ns, skewHours, driver }));
    await Promise.all(workers.map((child) => lines(child, 1)));
    const results = workers.map((child) => lines(child, 1));
    const started = Date.now() / 1000;
    for (const child of workers) child.stdin?.write("go\n");
    const reports = (await Promise.all(results)).map(
      (out) =>
        JSON.parse(out[0] as string) as {
          skewHours: number;
          allowed: number;
          storeErrors: number;
          events: { level: number; spent: string; at: number; window: string }[];
          resetsAt: number | null;
        },
    );
    const ended = Date.now() / 1000;

    // First, so that a worker stopped by store errors says so before the totals it left short.
    expect(reports.map((r) => r.storeErrors)).toEqual([0, 0, 0, 0]);
    // Exactly 5.00 / 0.05 = 100 charges in the one day, whatever each process thought the date was.
    expect(reports.reduce((sum, r) => sum + r.allowed, 0)).toBe(100);
    // How the 100 charges split between processes is the scheduler's business (under load one
    // process may take them all): what must hold is the exact total, one period, each level once.
    const store = new SqliteStore(path, { driver });
    const engine = new Engine({ store });
    const budget = new Budget({
      limits: [
        { maxSpend: "5.00", window: { calendar: "day", timeZone: "UTC" } },
        { maxSpend: "10.00", window: 3600 },
      ],
    });
    const usage = await engine.usage(new Ledger(ns, "model", "shared"), budget);
    expect(usage.limits.map((l) => l.spent.toString())).toEqual(["5.00", "5.00"]);
    await store.close();

    // One period: one calendar total, of today's UTC day by the host's clock.
    const raw = openDatabase(path, driver);
    const periods = raw
      .prepare("SELECT period_start, period_end FROM budgetgate_totals WHERE kind = 'calendar'")
      .all() as { period_start: number; period_end: number }[];
    raw.close();
    const today = Math.floor(started / 86_400) * 86_400;
    expect(periods).toEqual([{ period_start: today, period_end: today + 86_400 }]);

    // Each level once across the four processes, at exactly its amount, on the host's clock.
    const events = reports.flatMap((r) => r.events).sort((a, b) => a.level - b.level);
    expect(events.map((e) => [e.level, e.spent, e.window])).toEqual([
      [0.5, "2.50", "c:day:UTC"],
      [0.8, "4.00", "c:day:UTC"],
      [1, "5.00", "c:day:UTC"],
    ]);
    for (const e of events) {
      expect(e.at).toBeGreaterThanOrEqual(started - 1);
      expect(e.at).toBeLessThanOrEqual(ended + 1);
    }
    // And every process was told the same reset: the day's end, not its own clock's.
    for (const r of reports) expect(r.resetsAt).toBe(today + 86_400);
  });

  for (const synchronous of ["full", "normal"] as const) {
    it(`keeps every committed spend when a writer is killed with SIGKILL (synchronous ${synchronous})`, async () => {
      const path = join(dir, `kill-${synchronous}-${driver.replace(":", "-")}.db`);
      const report = join(dir, `kill-${synchronous}-${driver.replace(":", "-")}.log`);
      const ns = `k${randomUUID().slice(0, 8)}`;
      const child = worker({ mode: "stream", path, report, ns, synchronous, driver });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.once("exit", (_, signal) => resolve(signal)),
      );
      const target = 150 + Math.floor(Math.random() * 250);
      const reported = () => (existsSync(report) ? readFileSync(report, "utf8").length / 2 : 0);
      for (let waited = 0; reported() < target; waited += 10) {
        if (child.exitCode !== null) throw new Error(`the writer exited early (${child.exitCode})`);
        if (waited > 20_000) throw new Error(`the writer reported only ${reported()} spends in 20 s`);
        await sleep(10);
      }
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      const confirmed = Math.floor(reported());

      const raw = openDatabase(path, driver);
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      const row = (principal: string) =>
        raw
          .prepare("SELECT id, total, reserved, seq FROM budgetgate_ledgers WHERE key = ?")
          .get(new Ledger(ns, "model", principal).toString()) as {
          id: number;
          total: string;
          reserved: string;
          seq: number;
        };
      const lifetime = row("lifetime");
      const windowed = row("windowed");
      const unit = Amount.from("0.001").units;
      // Every spend the writer saw committed is there; at most one more committed before the kill.
      expect(lifetime.seq === confirmed || lifetime.seq === confirmed + 1).toBe(true);
      expect(BigInt(lifetime.total)).toBe(unit * BigInt(lifetime.seq));
      // The rows agree with the running totals: nothing half-written.
      const stored = raw
        .prepare("SELECT count(*) AS n, max(seq) AS top FROM budgetgate_spends WHERE ledger = ?")
        .get(lifetime.id) as { n: number; top: number };
      const newest = raw
        .prepare("SELECT cum FROM budgetgate_spends WHERE ledger = ? AND seq = ?")
        .pluck()
        .get(lifetime.id, stored.top);
      expect(stored.n).toBe(lifetime.seq);
      expect(newest).toBe(lifetime.total);
      // Both ledgers were charged together, always.
      expect(windowed.seq).toBe(lifetime.seq);
      expect(windowed.total).toBe(lifetime.total);
      // A hold caught in flight is on both ledgers, and in the holds table.
      const holds = raw.prepare("SELECT amount FROM budgetgate_holds WHERE active = 1").all() as { amount: string }[];
      const inFlight = holds.reduce((sum, h) => sum + BigInt(h.amount), 0n);
      expect(BigInt(lifetime.reserved)).toBe(inFlight);
      expect(BigInt(windowed.reserved)).toBe(inFlight);
      raw.close();

      // The file opens and works.
      const store = new SqliteStore(path, { driver });
      const engine = new Engine({ store });
      const budget = new Budget({ maxSpend: "1000000" });
      const ledger = new Ledger(ns, "model", "lifetime");
      expect((await engine.spent(ledger, budget)).units).toBe(unit * BigInt(lifetime.seq) + inFlight);
      expect((await engine.check(ledger, "0.001", budget)).allowed).toBe(true);
      expect((await engine.spent(ledger, budget)).units).toBe(unit * BigInt(lifetime.seq + 1) + inFlight);
      await store.close();
    });
  }
});
