/** RedisStore against the memory store: the shared differential property test. */
import { Redis } from "ioredis";
import { afterAll, describe } from "vitest";
import { RedisStore } from "../../../src/stores/redis/index.js";
import { describeDifferential } from "../../support/differential.js";
import { findService } from "../../support/services.js";
import { directCall, uniquePrefix } from "./support/helpers.js";

const service = await findService("REDIS_URL");

describe.skipIf(!service.ok)("RedisStore", () => {
  const client = new Redis(service.url, { lazyConnect: true });
  const store = new RedisStore(client, { prefix: uniquePrefix("model") });
  afterAll(async () => {
    await store.clearAll(directCall());
    await client.quit();
  });
  describeDifferential("RedisStore (ioredis)", { store: () => store, numRuns: 40 });
});
