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

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
type Sync = "full" | "normal";

/**
 * Decisions per second of each of `fns`, `perRound` calls per round, `inFlight` at a time; median
 * of rounds. Rounds of the different functions alternate, so that a change in the machine's load
 * or disk latency during the run affects them alike.
 */
async function rates(fns: readonly (() => Promise<unknown>)[], perRound: number, inFlight: number): Promise<number[]> {
  const waves = fns.map((fn) => () => Promise.all(Array.from({ length: inFlight }, fn)));
  for (const wave of waves) for (let i = 0; i < Math.ceil(perRound / 4 / inFlight); i++) await wave(); // warm up
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, wave] of waves.entries()) {
      const start = process.hrtime.bigint();
      for (let done = 0; done < perRound; done += inFlight) await wave();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      samples[i]?.push(perRound / seconds);
    }
  }
  return samples.map((list) => quantile(list, 0.5));
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
    const syncs = ["normal", "full"] as const;
    const rigs = syncs.map((sync) => {
      const store = new SqliteStore(join(dir, `inflight-${sync}.db`), { synchronous: sync });
      return { sync, store, engine: new Engine({ store }), ledger: new Ledger("bench", `inflight-${sync}`) };
    });
    const memory = new Engine();
    const memoryLedger = new Ledger("bench", "memory");
    for (const inFlight of [1, 32]) {
      progress(`check ALLOW, ${inFlight} in flight, synchronous normal and full alternating`);
      const [normal, full] = await rates(
        rigs.map((rig) => () => rig.engine.check(rig.ledger, "0.001", budget)),
        400,
        inFlight,
      );
      const [floor] = await rates([() => memory.check(memoryLedger, "0.001", budget)], 20_000, inFlight);
      for (const [sync, r] of [
        ["normal", normal],
        ["full", full],
      ] as const) {
        rows.push([
          `check ALLOW, synchronous ${sync}`,
          String(inFlight),
          fmt(r as number),
          `${Math.round(1e6 / (r as number)).toLocaleString("en")} µs`,
          `${((normal as number) / (r as number)).toFixed(2)}×`,
          `${((floor as number) / (r as number)).toFixed(0)}×`,
        ]);
      }
    }
    progress("reserve + commit, synchronous normal and full alternating");
    const pairs = await rates(
      rigs.map((rig) => async () => {
        const { reservation } = await rig.engine.reserve(rig.ledger, "0.002", budget);
        if (reservation) await rig.engine.commit(reservation, "0.001");
      }),
      200,
      1,
    );
    for (const [i, rig] of rigs.entries()) {
      const r = pairs[i] as number;
      rows.push([
        `reserve + commit (2 transactions), synchronous ${rig.sync}`,
        "1",
        fmt(r),
        `${Math.round(1e6 / r).toLocaleString("en")} µs`,
        `${((pairs[0] as number) / r).toFixed(2)}×`,
        "",
      ]);
      await rig.store.close();
    }
    console.log("\n### SqliteStore on a file: decisions per second (median of rounds)\n");
    printTable(
      ["operation", "in flight", "decisions/s", "per decision", "time vs normal", "time vs memory store"],
      rows,
    );

    // Flatness: the same check against a ledger with 10 or 100,000 spends live in its window.
    const lives = [10, 100_000];
    const historyRigs = [];
    for (const live of lives) {
      progress(`filling a ledger with ${live.toLocaleString("en")} live spends (synchronous normal)`);
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
      const check = () => {
        clock.now += step;
        return engine.check(ledger, cost, steady);
      };
      historyRigs.push({ store, check });
    }
    progress("check ALLOW against history, rounds alternating");
    const flat = await rates(
      historyRigs.map((rig) => rig.check),
      4000,
      1,
    );
    const history = lives.map((live, i) => [
      live.toLocaleString("en"),
      fmt(flat[i] as number),
      `${((flat[0] as number) / (flat[i] as number)).toFixed(2)}×`,
    ]);
    for (const rig of historyRigs) await rig.store.close();
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
