import { randomUUID } from "node:crypto";
import { describeStoreConformance, type FaultSetup } from "budgetgate/store/conformance";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { describe } from "vitest";
import type { Store } from "../../../src/store.js";
import { RedisStore } from "../../../src/stores/redis/index.js";
import { sparePort } from "../../support/ports.js";
import { findService } from "../../support/services.js";

const service = await findService("REDIS_URL");
const prefix = `bgtest:${randomUUID().slice(0, 8)}:`;

/**
 * Redis in trouble: a hashTag option that answers an empty tag (on the store's own client and
 * prefix), a port nothing listens on, and the store's connection blocked by a BLPOP of `block`.
 */
function faults(
  client: () => Redis | ReturnType<typeof createClient>,
  block: (key: string) => Promise<unknown>,
): FaultSetup {
  const offline: Redis[] = [];
  return {
    misconfigured: (store) => new RedisStore(client(), { prefix: (store as RedisStore).prefix, hashTag: () => "" }),
    unreachable: async () => {
      const down = new Redis(await sparePort(), {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      down.on("error", () => {}); // refused connections are the point
      offline.push(down);
      return new RedisStore(down, { prefix });
    },
    stall: async (store: Store) => {
      const blocked = block(`${prefix}stall:${randomUUID()}`);
      return { store, end: async () => void (await blocked) };
    },
    close: () => {
      for (const down of offline.splice(0)) down.disconnect();
    },
  };
}

/** Forgets what the suite wrote under its prefix, then closes the client. */
async function clearAndQuit(store: Store, quit: () => Promise<unknown>): Promise<void> {
  await store.clearAll({
    now: undefined,
    timeoutMs: 5000,
    deadline: Date.now() + 5000,
    signal: new AbortController().signal,
  });
  await quit();
}

describe.skipIf(!service.ok)("RedisStore with ioredis", () => {
  let client: Redis;
  describeStoreConformance("RedisStore (ioredis)", {
    create: () => {
      client = new Redis(service.url);
      return new RedisStore(client, { prefix: `${prefix}io:` });
    },
    faults: faults(
      () => client,
      (key) => client.blpop(key, 1.5),
    ),
    destroy: (store) => clearAndQuit(store, () => client.quit()),
  });
});

// The same guarantees where the server refuses functions: every batch by EVALSHA.
describe.skipIf(!service.ok)("RedisStore with ioredis, scripts only", () => {
  let client: Redis;
  describeStoreConformance("RedisStore (ioredis, functions: false)", {
    create: () => {
      client = new Redis(service.url);
      return new RedisStore(client, { prefix: `${prefix}sc:`, functions: false });
    },
    faults: faults(
      () => client,
      (key) => client.blpop(key, 1.5),
    ),
    destroy: (store) => clearAndQuit(store, () => client.quit()),
  });
});

describe.skipIf(!service.ok)("RedisStore with node-redis", () => {
  let client: ReturnType<typeof createClient>;
  describeStoreConformance("RedisStore (node-redis)", {
    create: async () => {
      client = createClient({ url: service.url });
      await client.connect();
      return new RedisStore(client, { prefix: `${prefix}nr:` });
    },
    faults: faults(
      () => client,
      (key) => client.blPop(key, 1.5),
    ),
    destroy: (store) => clearAndQuit(store, () => client.quit()),
  });
});
