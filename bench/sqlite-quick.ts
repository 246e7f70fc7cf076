/**
 * SqliteStore throughput on a file: decisions per second with 1 and 32 calls in flight, for both
 * `synchronous` settings; reserve + commit; flatness against history; and 4 processes sharing one
 * file. Run with `npx tsx bench/sqlite-quick.ts` (BENCH_ROUNDS to change the number of rounds).
 *
 * Each figure is the median over rounds of decisions/s, a round being a fixed number of decisions
 * awaited in waves of `inFlight` concurrent calls.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Amount, Budget, Engine, Ledger } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import { printTable, progress, quantile } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
type Sync = "full" | "normal";

/** Decisions per second of `fn`, `perRound` calls per round, `inFlight` at a time; median of rounds. */
async function rate(fn: () => Promise<unknown>, perRound: number, inFlight: number): Promise<number> {
  const wave = () => Promise.all(Array.from({ length: inFlight }, fn));
  for (let i = 0; i < Math.ceil(perRound / 4 / inFlight); i++) await wave(); // warm up
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let done = 0; done < perRound; done += inFlight) await wave();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(perRound / seconds);
  }
  return quantile(rates, 0.5);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en");

async function child(path: string, sync: Sync, count: number): Promise<void> {
  const store = new SqliteStore(path, { synchronous: sync });
  const engine = new Engine({ store, storeTimeoutMs: 10_000 });
  const ledger = new Ledger("bench", "shared");
  const budget = new Budget({ maxSpend: "1000000000", window: 3600 });
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  for (let i = 0; i < count; i++) await engine.check(ledger, "0.001", budget);
  await store.close();
  process.stdout.write("done\n", () => process.exit(0));
}

/** Aggregate decisions/s of `processes` processes charging one ledger in one file. */
async function shared(dir: string, sync: Sync, processes: number, each: number): Promise<number> {
  const path = join(dir, `shared-${sync}.db`);
  await new SqliteStore(path).close();
  const self = fileURLToPath(import.meta.url);
  const kids = Array.from({ length: processes }, () =>
    spawn(process.execPath, ["--import", "tsx", self, "child", path, sync, String(each)], {
      stdio: ["pipe", "pipe", "inherit"],
    }),
  );
  const said = (kid: (typeof kids)[number], word: string) =>
    new Promise<void>((resolve) => {
      let out = "";
      kid.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes(word)) resolve();
      });
    });
  await Promise.all(kids.map((kid) => said(kid, "ready")));
  const finished = kids.map((kid) => said(kid, "done"));
  const start = process.hrtime.bigint();
  for (const kid of kids) kid.stdin.write("go\n");
  await Promise.all(finished);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(
    kids.map((kid) => new Promise((resolve) => (kid.exitCode === null ? kid.once("exit", resolve) : resolve(null)))),
  );
  return (processes * each) / seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "budgetgate-bench-sqlite-"));
  try {
    const budget = new Budget({ maxSpend: "1000000000", window: 3600 });
    const rows: string[][] = [];
    for (const sync of ["normal", "full"] as const) {
      const perRound = sync === "full" ? 400 : 4000;
      const store = new SqliteStore(join(dir, `inflight-${sync}.db`), { synchronous: sync });
      const engine = new Engine({ store });
      const ledger = new Ledger("bench", `inflight-${sync}`);
      const memory = new Engine();
      for (const inFlight of [1, 32]) {
        progress(`check ALLOW, synchronous ${sync}, ${inFlight} in flight`);
        const sqlite = await rate(() => engine.check(ledger, "0.001", budget), perRound, inFlight);
        const floor = await rate(() => memory.check(ledger, "0.001", budget), 20_000, inFlight);
        rows.push([
          `check ALLOW, file, synchronous ${sync}`,
          String(inFlight),
          fmt(sqlite),
          `${((1e6 / sqlite) | 0).toLocaleString("en")} µs`,
          `${(floor / sqlite).toFixed(0)}×`,
        ]);
      }
      progress(`reserve + commit, synchronous ${sync}`);
      const pair = await rate(
        async () => {
          const { reservation } = await engine.reserve(ledger, "0.002", budget);
          if (reservation) await engine.commit(reservation, "0.001");
        },
        perRound / 2,
        1,
      );
      rows.push([
        `reserve + commit (2 transactions), synchronous ${sync}`,
        "1",
        fmt(pair),
        `${((1e6 / pair) | 0).toLocaleString("en")} µs`,
        "",
      ]);
      await store.close();
    }
    console.log("\n### SqliteStore on a file: decisions per second (median of rounds)\n");
    printTable(["operation", "in flight", "decisions/s", "per decision", "memory store ÷ this"], rows);

    // Flatness: the same check against a ledger with 10 or 100,000 spends live in its window.
    const history: string[][] = [];
    let base = 0;
    for (const live of [10, 100_000]) {
      progress(`check ALLOW with ${live.toLocaleString("en")} live spends (synchronous normal)`);
      const clock = { now: 0 };
      const store = new SqliteStore(join(dir, `history-${live}.db`), { synchronous: "normal" });
      const engine = new Engine({ store, clock: () => clock.now });
      const ledger = new Ledger("bench", `history-${live}`);
      const window = 3600;
      const step = window / live;
      const steady = new Budget({ maxSpend: "1000000000", window });
      const cost = Amount.from("0.001");
      for (let i = 0; i < live; i++) {
        await engine.check(ledger, cost, steady);
        clock.now += step;
      }
      const r = await rate(
        () => {
          clock.now += step;
          return engine.check(ledger, cost, steady);
        },
        4000,
        1,
      );
      if (live === 10) base = r;
      history.push([live.toLocaleString("en"), fmt(r), `${(base / r).toFixed(2)}×`]);
      await store.close();
    }
    console.log("\n### check ALLOW against history (one spend expires per spend recorded)\n");
    printTable(["live spends", "decisions/s", "time vs 10"], history);

    const multi: string[][] = [];
    for (const sync of ["normal", "full"] as const) {
      progress(`4 processes on one file, synchronous ${sync}`);
      const each = sync === "full" ? 500 : 5000;
      const runs: number[] = [];
      for (let r = 0; r < 3; r++) runs.push(await shared(dir, sync, 4, each));
      const single = await shared(dir, sync, 1, each);
      multi.push([`synchronous ${sync}`, fmt(single), fmt(quantile(runs, 0.5))]);
    }
    console.log("\n### Processes charging one ledger in one file: decisions per second, all processes together\n");
    printTable(["setting", "1 process", "4 processes (median of 3)"], multi);
    console.log(
      `\nNode ${process.version}, ${process.platform} ${process.arch}, ${cpus().length} cores; ${new Date().toISOString()}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "child") {
  await child(process.argv[3] as string, process.argv[4] as Sync, Number(process.argv[5]));
} else {
  await main();
}
