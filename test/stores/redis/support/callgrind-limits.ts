/**
 * Instructions per decision of RedisStore, one limit against three, counted by callgrind on a
 * private redis-server (valgrind must be installed): `charge` on 256 ledgers in ticks of 64 calls (few enough that no pass outlasts the slack of a key's expiry, under valgrind)
 * (two script calls of 32), first with nothing expiring, then with one spend leaving the 60 s
 * window in each call (the engine clock moves 61 s per pass over the ledgers: the steady state of a
 * busy ledger). Deterministic where timing is not, so the ratio is the figure to compare.
 *
 * Run: [FUNCTIONS=false] npx tsx test/stores/redis/support/callgrind-limits.ts [port]
 */
import { Ledger } from "../../../../src/index.js";
import type { StoreLimit, StoreLine } from "../../../../src/store.js";
import { RedisStore } from "../../../../src/stores/redis/index.js";
import { callAt as call, ONE_LIMIT as ONE, startCallgrindRedis, THREE_LIMITS as THREE } from "./callgrind.js";

const PORT = Number(process.argv[2] ?? 16_393);
const KEYS = Number(process.env.KEYS ?? 256);

async function main() {
  const server = await startCallgrindRedis(PORT);
  const client = server.client;
  try {
    // FUNCTIONS=false: the batch as a script (EVALSHA), as on a server that refuses functions.
    const store = new RedisStore(client, { prefix: "cg:", functions: process.env.FUNCTIONS !== "false" });
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
    const measure = (run: () => Promise<void>) => server.measure(KEYS, run);
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
    await server.stop();
  }
}

await main();
