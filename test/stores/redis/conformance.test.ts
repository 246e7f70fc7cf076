import { randomUUID } from "node:crypto";
import { describeStoreConformance } from "budgetgate/store/conformance";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { describe } from "vitest";
import { RedisStore } from "../../../src/stores/redis.js";
import { findService } from "../../support/services.js";

const service = await findService("REDIS_URL");
const prefix = `bgtest:${randomUUID().slice(0, 8)}:`;

describe.skipIf(!service.ok)("RedisStore with ioredis", () => {
  let client: Redis;
  describeStoreConformance("RedisStore (ioredis)", {
    create: () => {
      client = new Redis(service.url);
      return new RedisStore(client, { prefix: `${prefix}io:` });
    },
    destroy: async (store) => {
      await store.clearAll({
        now: undefined,
        timeoutMs: 5000,
        deadline: Date.now() + 5000,
        signal: new AbortController().signal,
      });
      await client.quit();
    },
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
    destroy: async (store) => {
      await store.clearAll({
        now: undefined,
        timeoutMs: 5000,
        deadline: Date.now() + 5000,
        signal: new AbortController().signal,
      });
      await client.quit();
    },
  });
});
