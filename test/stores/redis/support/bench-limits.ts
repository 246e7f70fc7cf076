/**
 * RedisStore, one limit against three (issue #13's target: a three-limit check within 1.3× of a
 * one-limit check on Redis), measured on the store itself, in one run, side by side: `charge` on
 * 1,000 ledgers with one rolling 60 s limit, and with rolling 60 s + rolling 86,400 s + calendar
 * month, rounds alternating. Reports client throughput at 1, 16 and 128 calls in flight, and the
 * server's µs per operation (INFO commandstats of EVALSHA, divided by the operations it carried)
 * on a private redis-server started on a spare port, so that no other client's scripts count.
 *
 * Run: npx tsx test/stores/redis/support/bench-limits.ts [port]
 */
import { Redis } from "ioredis";
import { Ledger } from "../../../../src/index.js";
import type { StoreCall, StoreLimit, StoreLine } from "../../../../src/store.js";
import { RedisStore } from "../../../../src/stores/redis/index.js";
import { RedisServer } from "./server.js";

const PORT = Number(process.argv[2] ?? 16_391);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const KEYS = 1000;
const CALLS: Record<number, number> = { 1: 3_000, 16: 15_000, 128: 30_000 };
const U = 10n ** 18n;

function monthBoundaries(now: number): number[] {
  const d = new Date(now * 1000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return [-1, 0, 1, 2].map((k) => Date.UTC(y, m + k, 1) / 1000);
}

const ONE: readonly StoreLimit[] = [
  { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
];
const VARIANT = process.env.BENCH_VARIANT ?? "";
const THREE: readonly StoreLimit[] =
  VARIANT === "rolling3"
    ? [
        { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
        { window: { kind: "rolling", id: "r:86400", seconds: 86_400 }, maxSpend: 1_000_000_000n * U, enforce: true },
        { window: { kind: "rolling", id: "r:3600", seconds: 3600 }, maxSpend: 1_000_000_000n * U, enforce: true },
      ]
    : VARIANT === "same"
      ? [
          { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
          { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
          { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
        ]
      : [
          { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 1_000_000_000n * U, enforce: true },
          { window: { kind: "rolling", id: "r:86400", seconds: 86_400 }, maxSpend: 1_000_000_000n * U, enforce: true },
          {
            window: { kind: "calendar", id: "c:month:UTC", boundaries: monthBoundaries(Date.now() / 1000) },
            maxSpend: 1_000_000_000n * U,
            enforce: true,
          },
        ];

function call(): StoreCall {
  return { now: undefined, timeoutMs: 5000, deadline: Date.now() + 5000, signal: new AbortController().signal };
}

async function main() {
  const server = new RedisServer(PORT, ["--save", "", "--appendonly", "no"]);
  await server.start();
  const client = new Redis({ port: PORT, host: "127.0.0.1" });
  const admin = new Redis({ port: PORT, host: "127.0.0.1" });
  try {
    const store = new RedisStore(client, { prefix: "bench:" });
    const subjects = [
      { name: "1 limit (r:60)", limits: ONE, ns: "one" },
      { name: "3 limits (r:60, r:86400, c:month)", limits: THREE, ns: "three" },
    ].map((s) => ({
      ...s,
      lines: Array.from({ length: KEYS }, (_, i) => {
        const ledger = new Ledger(s.ns, "model", `user:${i}`);
        return [{ ledger, key: ledger.toString(), limits: s.limits }] as StoreLine[];
      }),
    }));
    const amount = 123_000_000_000_000n;
    async function run(subject: (typeof subjects)[number], inFlight: number, calls: number) {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          for (;;) {
            const i = next++;
            if (i >= calls) return;
            const v = await store.charge(subject.lines[i % KEYS] as StoreLine[], amount, call());
            if (!v.allowed) throw new Error("blocked");
          }
        }),
      );
      return calls / ((performance.now() - t0) / 1000);
    }
    async function serverStats(): Promise<{ calls: number; usec: number }> {
      const info = await admin.info("commandstats");
      const m = info.match(/cmdstat_evalsha:calls=(\d+),usec=(\d+)/);
      return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
    }
    for (const s of subjects) await run(s, 16, 5_000); // warm-up, and the totals exist
    const rows: string[] = [];
    for (const inFlight of (process.env.BENCH_CONCURRENCY ?? "1,16,128").split(",").map(Number)) {
      const rates = new Map<string, number[]>();
      const usec = new Map<string, number>();
      for (let r = 0; r < ROUNDS; r++) {
        for (const s of r % 2 === 0 ? subjects : [...subjects].reverse()) {
          const before = await serverStats();
          const rate = await run(s, inFlight, CALLS[inFlight] as number);
          const after = await serverStats();
          rates.set(s.name, [...(rates.get(s.name) ?? []), rate]);
          usec.set(s.name, (usec.get(s.name) ?? 0) + (after.usec - before.usec));
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      const [one, three] = subjects.map((s) => ({
        rate: median(rates.get(s.name) as number[]),
        perOp: (usec.get(s.name) as number) / (ROUNDS * (CALLS[inFlight] as number)),
      })) as [{ rate: number; perOp: number }, { rate: number; perOp: number }];
      rows.push(
        `in flight ${String(inFlight).padStart(3)}: 1 limit ${one.rate.toFixed(0).padStart(6)}/s, ${one.perOp.toFixed(2)} µs/op on the server | 3 limits ${three.rate.toFixed(0).padStart(6)}/s, ${three.perOp.toFixed(2)} µs/op | server cost ×${(three.perOp / one.perOp).toFixed(2)}, throughput ×${(one.rate / three.rate).toFixed(2)}`,
      );
      console.log(rows.at(-1));
    }
  } finally {
    await client.quit();
    await admin.quit();
    await server.stop();
  }
}

await main();
