/**
 * A private redis-server under callgrind (valgrind must be installed), for counting the server's
 * instructions per call: deterministic where timing is not, so its ratios are the figures to compare.
 */
import { execSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { Redis } from "ioredis";
import type { StoreCall, StoreLimit } from "../../../../src/store.js";
import { sleep } from "./helpers.js";

/** A running server: its client, a counter of instructions, and how to stop it. */
export interface CallgrindRedis {
  readonly client: Redis;
  /** Runs `run` and answers the server's instructions meanwhile, divided by `per`. */
  measure(per: number, run: () => Promise<unknown>): Promise<number>;
  /** Stops the server and removes its dumps (kept, and their directory printed, with KEEP_DUMPS). */
  stop(): Promise<void>;
}

/** Starts redis-server under callgrind on `port` and waits until it answers. */
export async function startCallgrindRedis(port: number): Promise<CallgrindRedis> {
  const dir = `/tmp/callgrind-redis-${process.pid}-${port}`;
  execSync(`mkdir -p ${dir}`);
  const args = ["--tool=callgrind", `--callgrind-out-file=${dir}/cg.out`, "redis-server", "--port", String(port)];
  const server = spawn("valgrind", [...args, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const client = new Redis({ port, host: "127.0.0.1", retryStrategy: () => 200, maxRetriesPerRequest: null });
  client.on("error", () => {}); // refused until valgrind has the server up
  for (let i = 0; i < 300; i++) {
    try {
      if ((await client.ping()) === "PONG") break;
    } catch {
      await sleep(200);
    }
  }
  let dumps = 0;
  return {
    client,
    async measure(per, run) {
      execSync(`callgrind_control -z ${server.pid}`, { stdio: "ignore" });
      await run();
      execSync(`callgrind_control -d ${server.pid}`, { stdio: "ignore" });
      dumps++;
      for (let i = 0; i < 100; i++) {
        const file = readdirSync(dir).find((f) => f.endsWith(`.${dumps}`));
        if (file) {
          await sleep(200);
          const text = readFileSync(`${dir}/${file}`, "utf8");
          const m = text.match(/^summary: (\d+)/m) ?? text.match(/^totals: (\d+)/m);
          if (m) return Number(m[1]) / per;
        }
        await sleep(100);
      }
      throw new Error("no callgrind dump");
    },
    async stop() {
      client.disconnect();
      server.kill("SIGTERM");
      await sleep(500);
      if (process.env.KEEP_DUMPS) console.log(`dumps in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A maxSpend no figure reaches: every charge is allowed and recorded. */
const BIG = 10n ** 27n;

/** One rolling limit of 60 s, as the store takes it. */
export const ONE_LIMIT: readonly StoreLimit[] = [
  { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: BIG, enforce: true },
];

/** Three limits: 60 s, a day, and a calendar month in UTC around the engine clock the tools use. */
export const THREE_LIMITS: readonly StoreLimit[] = [
  ONE_LIMIT[0] as StoreLimit,
  { window: { kind: "rolling", id: "r:86400", seconds: 86_400 }, maxSpend: BIG, enforce: true },
  // Month boundaries around the engine clock used (1.8e9 s is in January 2027).
  {
    window: {
      kind: "calendar",
      id: "c:month:UTC",
      boundaries: [1_796_083_200, 1_798_761_600, 1_801_440_000, 1_803_859_200],
    },
    maxSpend: BIG,
    enforce: true,
  },
];

/** A store call at engine time `now`, with a deadline no run reaches. */
export function callAt(now: number): StoreCall {
  return { now, timeoutMs: 600_000, deadline: Date.now() + 600_000, signal: new AbortController().signal };
}
