/**
 * Instructions per decision of RedisStore, one limit against three, counted by callgrind on a
 * private redis-server (valgrind must be installed): `charge` on 256 ledgers in ticks of 64 calls (few enough that no pass outlasts the slack of a key's expiry, under valgrind)
 * (two script calls of 32), first with nothing expiring, then with one spend leaving the 60 s
 * window in each call (the engine clock moves 61 s per pass over the ledgers: the steady state of a
 * busy ledger). Deterministic where timing is not, so the ratio is the figure to compare.
 *
 * Run: npx tsx test/stores/redis/support/callgrind-limits.ts [port]
 */
import { execSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { Redis } from "ioredis";
import { Ledger } from "../../../../src/index.js";
import type { StoreCall, StoreLimit, StoreLine } from "../../../../src/store.js";
import { RedisStore } from "../../../../src/stores/redis/index.js";
import { sleep } from "./helpers.js";

const PORT = Number(process.argv[2] ?? 16_393);
const KEYS = Number(process.env.KEYS ?? 256);
const U = 10n ** 18n;
const DIR = `/tmp/callgrind-limits-${process.pid}`;

const big = 1_000_000_000n * U;
const ONE: readonly StoreLimit[] = [
  { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: big, enforce: true },
];
const THREE: readonly StoreLimit[] = [
  { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: big, enforce: true },
  { window: { kind: "rolling", id: "r:86400", seconds: 86_400 }, maxSpend: big, enforce: true },
  // Month boundaries around the engine clock used below (1.8e9 s is in January 2027).
  {
    window: {
      kind: "calendar",
      id: "c:month:UTC",
      boundaries: [1_796_083_200, 1_798_761_600, 1_801_440_000, 1_803_859_200],
    },
    maxSpend: big,
    enforce: true,
  },
];

const call = (now: number): StoreCall => ({
  now,
  timeoutMs: 600_000,
  deadline: Date.now() + 600_000,
  signal: new AbortController().signal,
});

async function main() {
  execSync(`mkdir -p ${DIR}`);
  const server = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${DIR}/cg.out`,
      "redis-server",
      "--port",
      String(PORT),
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: "ignore" },
  );
  const client = new Redis({ port: PORT, host: "127.0.0.1", retryStrategy: () => 200, maxRetriesPerRequest: null });
  try {
    for (let i = 0; i < 300; i++) {
      try {
        if ((await client.ping()) === "PONG") break;
      } catch {
        await sleep(200);
      }
    }
    const store = new RedisStore(client, { prefix: "cg:" });
    const subjects = [
      { name: "1 limit", limits: ONE, ns: "one" },
      { name: "3 limits", limits: THREE, ns: "three" },
      { name: "3 limits of one window", limits: [ONE[0], ONE[0], ONE[0]] as StoreLimit[], ns: "same" },
      {
        name: "3 rolling limits",
        limits: [
          THREE[0],
          THREE[1],
          { ...THREE[1], window: { kind: "rolling", id: "r:3600", seconds: 3600 } },
        ] as StoreLimit[],
        ns: "rolling",
      },
    ];
    const lines = (ns: string, limits: readonly StoreLimit[]) =>
      Array.from({ length: KEYS }, (_, i) => {
        const ledger = new Ledger(ns, "model", `user:${i}`);
        return [{ ledger, key: ledger.toString(), limits }] as StoreLine[];
      });
    async function pass(all: StoreLine[][], now: number) {
      for (let i = 0; i < KEYS; i += 64) {
        await Promise.all(
          all
            .slice(i, i + 64)
            .map((l) =>
              store
                .charge(l, 123_000_000_000_000n, call(now))
                .catch((error: unknown) => (process.env.TOLERANT ? undefined : Promise.reject(error))),
            ),
        );
      }
    }
    const t0 = 1_800_000_000;
    let dumps = 0;
    const measure = async (run: () => Promise<void>): Promise<number> => {
      execSync(`callgrind_control -z ${server.pid}`, { stdio: "ignore" });
      await run();
      execSync(`callgrind_control -d ${server.pid}`, { stdio: "ignore" });
      dumps++;
      for (let i = 0; i < 100; i++) {
        const file = readdirSync(DIR).find((f) => f.endsWith(`.${dumps}`));
        if (file) {
          await sleep(200);
          const text = readFileSync(`${DIR}/${file}`, "utf8");
          const m = text.match(/^summary: (\d+)/m) ?? text.match(/^totals: (\d+)/m);
          if (m) return Number(m[1]) / KEYS;
        }
        await sleep(100);
      }
      throw new Error("no callgrind dump");
    };
    const only = process.env.SUBJECTS?.split(",");
    for (const s of subjects.filter((x) => only === undefined || only.includes(x.ns))) {
      const all = lines(s.ns, s.limits);
      await pass(all, t0); // creates the totals
      const idle = await measure(() => pass(all, t0 + 1)); // nothing expires
      const expiring = await measure(() => pass(all, t0 + 61)); // the spend at t0 leaves r:60, not t0 + 1's
      console.log(
        `${s.name}: ${Math.round(idle)} instructions per decision with nothing expiring, ${Math.round(expiring)} with one spend leaving the 60 s window`,
      );
    }
  } finally {
    client.disconnect();
    server.kill("SIGTERM");
    await sleep(500);
    if (process.env.KEEP_DUMPS) console.log(`dumps in ${DIR}`);
    else rmSync(DIR, { recursive: true, force: true });
  }
}

await main();
