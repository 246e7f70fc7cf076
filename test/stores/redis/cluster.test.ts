/**
 * RedisStore on a real Redis Cluster: three masters of our own on spare ports (never the shared
 * server), slots spread by redis-cli. Ledgers land on different nodes; each ledger's keys, the ones
 * the script derives included, sit in one slot; calls across slots are refused; a hashTag puts
 * ledgers together so that one call charges them atomically.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster } from "ioredis";
import { createCluster } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Budget, ConfigurationError, Engine, Ledger, ReservationNotFoundError } from "../../../src/index.js";
import { RedisStore, type RedisStoreOptions } from "../../../src/stores/redis/index.js";
import { sparePort } from "../../support/ports.js";
import { sleep } from "./support/helpers.js";
import { RedisServer } from "./support/server.js";

const hasTools =
  spawnSync("redis-server", ["--version"]).status === 0 && spawnSync("redis-cli", ["--version"]).status === 0;
if (!hasTools) {
  const message = "redis-server or redis-cli is not installed: the Redis Cluster tests need both to build a cluster";
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`\n!! SKIPPING: ${message}\n`);
}

const nodes: RedisServer[] = [];
const dirs: string[] = [];

async function clusterReady(port: number): Promise<boolean> {
  const info = spawnSync("redis-cli", ["-p", String(port), "cluster", "info"], { encoding: "utf8" });
  return info.stdout.includes("cluster_state:ok");
}

describe.skipIf(!hasTools)("RedisStore on a real Redis Cluster (3 masters)", () => {
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), "budgetgate-cluster-"));
      dirs.push(dir);
      const node = new RedisServer(await sparePort(), [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, "nodes.conf"),
        "--dir",
        dir,
      ]);
      await node.start();
      nodes.push(node);
    }
    const created = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    const end = Date.now() + 20_000;
    for (const node of nodes) {
      while (!(await clusterReady(node.port))) {
        if (Date.now() > end) throw new Error(`cluster node ${node.port} did not reach cluster_state:ok`);
        await sleep(100);
      }
    }
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A cluster client, and stores made on it. */
  interface Connected {
    store(options?: RedisStoreOptions): RedisStore;
    close(): Promise<void>;
  }
  const clients: { name: string; connect(): Promise<Connected> }[] = [
    {
      name: "ioredis Cluster",
      async connect() {
        const cluster = new Cluster([{ host: "127.0.0.1", port: nodes[0]?.port as number }]);
        await cluster.ping();
        return {
          store: (options) => new RedisStore(cluster, { prefix: "cl:io:", ...options }),
          close: async () => {
            cluster.disconnect();
          },
        };
      },
    },
    {
      name: "node-redis createCluster",
      async connect() {
        const cluster = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${nodes[0]?.port}` }] });
        cluster.on("error", () => {});
        await cluster.connect();
        return {
          store: (options) => new RedisStore(cluster, { prefix: "cl:nr:", ...options }),
          close: async () => {
            await cluster.close();
          },
        };
      },
    },
  ];

  for (const client of clients) {
    describe(client.name, () => {
      it("keeps exact budgets on ledgers spread over every node", async () => {
        const { store: make, close } = await client.connect();
        try {
          const store = make();
          expect(store.cluster).toBe(true);
          const engine = new Engine({ store });
          const budget = new Budget({ maxSpend: "1", window: 60 });
          const ledgers = Array.from({ length: 24 }, (_, i) => new Ledger("spread", "m", `user:${i}`));
          const slots = new Set(
            ledgers.map((l) =>
              spawnSync("redis-cli", ["-p", String(nodes[0]?.port), "cluster", "keyslot", `{${l}}`], {
                encoding: "utf8",
              }).stdout.trim(),
            ),
          );
          expect(slots.size).toBeGreaterThan(20); // one slot per ledger: spread over the three nodes
          // 0.3 fits three times in 1; the fourth is blocked, on every ledger, whichever node holds it.
          for (let round = 0; round < 3; round++) {
            const decisions = await Promise.all(ledgers.map((l) => engine.check(l, "0.3", budget)));
            expect(decisions.every((d) => d.allowed)).toBe(true);
          }
          const fourth = await Promise.all(ledgers.map((l) => engine.check(l, "0.3", budget)));
          expect(fourth.every((d) => d.blocked && d.reason === "BUDGET_EXCEEDED")).toBe(true);
          for (const l of ledgers) expect((await engine.spent(l, budget)).toString()).toBe("0.9");

          const { reservation } = await engine.reserve(ledgers[0] as Ledger, "0.1", budget);
          if (!reservation) throw new Error("expected a reservation");
          expect((await engine.commit(reservation, "0.05")).recorded.toString()).toBe("0.05");
          expect((await engine.spent(ledgers[0] as Ledger, budget)).toString()).toBe("0.95");
          const second = await engine.reserve(ledgers[1] as Ledger, "0.1", budget);
          if (!second.reservation) throw new Error("expected a reservation");
          await engine.release(second.reservation);
          await expect(engine.release(second.reservation)).rejects.toBeInstanceOf(ReservationNotFoundError);
          expect((await engine.spent(ledgers[1] as Ledger, budget)).toString()).toBe("0.9");

          for (const l of ledgers) await engine.clear(l);
          expect((await engine.spent(ledgers[0] as Ledger, budget)).isZero()).toBe(true);
        } finally {
          await close();
        }
      });

      it("refuses a charge across slots, and charges ledgers of one hashTag together", async () => {
        const { store: make, close } = await client.connect();
        try {
          const store = make();
          const budget = new Budget({ maxSpend: "1", window: 60 });
          const a = new Ledger("team", "m", "alice");
          const b = new Ledger("team", "m", "bob");
          const apart = new Engine({ store }).check(
            [
              { ledger: a, budget },
              { ledger: b, budget },
            ],
            "0.4",
          );
          await expect(apart).rejects.toBeInstanceOf(ConfigurationError);
          await expect(apart).rejects.toThrow(/different slots.*hashTag/);

          const grouped = make({ prefix: `${store.prefix}g:`, hashTag: (ledger) => ledger.namespace });
          const engine = new Engine({ store: grouped });
          const both = [
            { ledger: a, budget },
            { ledger: b, budget },
          ];
          expect((await engine.check(both, "0.4")).allowed).toBe(true);
          expect((await engine.check(both, "0.4")).allowed).toBe(true);
          expect((await engine.check(both, "0.4")).blocked).toBe(true);
          expect((await engine.spent(a, budget)).toString()).toBe("0.8");
          expect((await engine.spent(b, budget)).toString()).toBe("0.8");
          await engine.clear(a);
          await engine.clear(b);
        } finally {
          await close();
        }
      });
    });
  }
});
