/**
 * The server's fixed cost per call of RedisStore's batch, counted by callgrind on a private
 * redis-server (valgrind must be installed): a batch with no operation and a lone one-limit or
 * three-limit `charge` (one per call), each as FCALL of the library and as EVALSHA of the script,
 * beside PING and a bare EVALSHA of `return 1` (the floor), and the same charges 32 at a time (two
 * calls of 16). What the library saves is what a script re-runs on every call: its definitions.
 *
 * Run: npx tsx test/stores/redis/support/callgrind-calls.ts [port]
 */
import { Ledger } from "../../../../src/index.js";
import type { StoreLine } from "../../../../src/store.js";
import { RedisStore } from "../../../../src/stores/redis/index.js";
import { LIBRARY, SCRIPTS } from "../../../../src/stores/redis/scripts.js";
import { callAt as call, ONE_LIMIT as ONE, startCallgrindRedis, THREE_LIMITS as THREE } from "./callgrind.js";

const PORT = Number(process.argv[2] ?? 16_394);
/** Calls per figure. */
const CALLS = 200;
const LEDGERS = 256;
async function main() {
  const server = await startCallgrindRedis(PORT);
  const { client, measure } = server;
  const times = async (run: () => Promise<unknown>) => {
    for (let i = 0; i < CALLS; i++) await run();
  };
  try {
    const floor = String(await client.script("LOAD", "return 1"));
    await client.call("FUNCTION", "LOAD", "REPLACE", LIBRARY.source);
    await client.script("LOAD", SCRIPTS.batch.source);
    const rows: [string, number][] = [
      ["PING", await measure(CALLS, () => times(() => client.ping()))],
      ["bare EVALSHA (floor)", await measure(CALLS, () => times(() => client.evalsha(floor, 0)))],
      [
        "batch of no operation, FCALL",
        await measure(CALLS, () => times(() => client.fcall(LIBRARY.batch, 1, "cg:receipt", "10000", "0"))),
      ],
      [
        "batch of no operation, EVALSHA",
        await measure(CALLS, () => times(() => client.evalsha(SCRIPTS.batch.sha1, 1, "cg:receipt", "10000", "0"))),
      ],
    ];
    for (const functions of [true, false]) {
      const store = new RedisStore(client, { prefix: `cg:${functions}:`, functions });
      const how = functions ? "FCALL" : "EVALSHA";
      for (const [name, limits] of [
        ["one limit", ONE],
        ["three limits", THREE],
      ] as const) {
        const lines = Array.from({ length: LEDGERS }, (_, i) => {
          const ledger = new Ledger(name, "m", `u:${i}`);
          return [{ ledger, key: ledger.toString(), limits }] as StoreLine[];
        });
        const charge = (l: StoreLine[], now: number) => store.charge(l, 123_000_000_000_000n, call(now));
        const t0 = 1_800_000_000;
        for (const l of lines) await charge(l, t0); // creates the totals
        rows.push([
          `lone charge, ${name}, ${how}`,
          await measure(LEDGERS, async () => {
            for (const l of lines) await charge(l, t0 + 1);
          }),
        ]);
        rows.push([
          `charge, ${name}, 16 per call, ${how} (per decision)`,
          await measure(LEDGERS, async () => {
            for (let i = 0; i < LEDGERS; i += 32)
              await Promise.all(lines.slice(i, i + 32).map((l) => charge(l, t0 + 2)));
          }),
        ]);
      }
    }
    console.log("| call | instructions |\n|---|---|");
    for (const [name, count] of rows) console.log(`| ${name} | ${Math.round(count).toLocaleString("en-US")} |`);
  } finally {
    await server.stop();
  }
}

await main();
