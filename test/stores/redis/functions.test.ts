/**
 * How RedisStore runs its batches: as FCALL of its own Functions library where the server allows
 * it (loading the library itself, again after the server lost it), as EVALSHA where the server or
 * client refuses functions (detected once), or with `functions: false`; and with the library's
 * caches, which outlive a call, emptied and refilled past their bound without changing a total.
 */

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Budget, Engine, Ledger } from "../../../src/index.js";
import { RedisStore, type ScriptClient } from "../../../src/stores/redis/index.js";
import { LIBRARY } from "../../../src/stores/redis/scripts.js";
import { sparePort } from "../../support/ports.js";
import { findService } from "../../support/services.js";
import { RedisServer } from "./support/server.js";

const service = await findService("REDIS_URL");
const hasServer = spawnSync("redis-server", ["--version"]).status === 0;
const prefix = `bgtest:${randomUUID().slice(0, 8)}:fn:`;

/** A ScriptClient over ioredis that counts each command and can answer FCALL or FUNCTION LOAD with an error. */
function counting(client: Redis, refuse: { fcall?: string; load?: string } = {}) {
  const calls = { fcall: 0, load: 0, evalsha: 0, eval: 0 };
  const script: ScriptClient = {
    evalSha: (sha1, keys, args) => {
      calls.evalsha++;
      return client.evalsha(sha1, keys.length, ...keys, ...args);
    },
    evalSource: (source, keys, args) => {
      calls.eval++;
      return client.eval(source, keys.length, ...keys, ...args);
    },
    fcall: (name, keys, args) => {
      calls.fcall++;
      if (refuse.fcall) return Promise.reject(new Error(refuse.fcall));
      return client.fcall(name, keys.length, ...keys, ...args);
    },
    loadLibrary: (source) => {
      calls.load++;
      if (refuse.load) return Promise.reject(new Error(refuse.load));
      return client.call("FUNCTION", "LOAD", "REPLACE", source);
    },
  };
  return { script, calls };
}

/** Ten charges of 0.25 against a budget of 2: eight allowed, then two blocked, whatever runs them. */
async function chargeTen(store: RedisStore, name: string): Promise<boolean[]> {
  const engine = new Engine({ store });
  const budget = new Budget({ maxSpend: "2", window: 3600 });
  const ledger = new Ledger("functions", name);
  const allowed: boolean[] = [];
  for (let i = 0; i < 10; i++) allowed.push((await engine.check(ledger, "0.25", budget)).allowed);
  expect((await engine.spent(ledger, budget)).toString()).toBe("2");
  return allowed;
}

const EIGHT_THEN_BLOCKED = [...Array(8).fill(true), false, false];

describe.skipIf(!service.ok)("RedisStore's batches as a Redis Function or a script", () => {
  let client: Redis;
  beforeAll(() => {
    client = new Redis(service.url);
  });
  afterAll(async () => {
    // Each test has a prefix of its own under the suite's: clear them all.
    for (const name of ["a", "b", "c", "d", "e", "f"]) {
      await new RedisStore(client, { prefix: `${prefix}${name}:` }).clearAll({
        now: undefined,
        timeoutMs: 5000,
        deadline: Date.now() + 5000,
        signal: new AbortController().signal,
      });
    }
    expect(await client.keys(`${prefix}*`)).toEqual([]);
    client.disconnect();
  });

  it("calls its library by FCALL, and never EVALSHA, where the server has functions", async () => {
    const { script, calls } = counting(client);
    const store = new RedisStore(script, { prefix: `${prefix}a:` });
    expect(await chargeTen(store, "fcall")).toEqual(EIGHT_THEN_BLOCKED);
    expect(store.functions).toBe(true);
    expect(calls.fcall).toBeGreaterThanOrEqual(11);
    expect(calls.evalsha).toBe(1); // the layout script, once
    const libraries = (await client.call("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY.name)) as unknown[];
    expect(libraries).toHaveLength(1);
  });

  it("turns to EVALSHA for good, after one refused FCALL, on a server without functions", async () => {
    const { script, calls } = counting(client, { fcall: "ERR unknown command 'FCALL', with args beginning with: " });
    const store = new RedisStore(script, { prefix: `${prefix}b:` });
    expect(store.functions).toBe(true);
    expect(await chargeTen(store, "old-server")).toEqual(EIGHT_THEN_BLOCKED);
    expect(store.functions).toBe(false);
    expect(calls.fcall).toBe(1);
    expect(calls.evalsha).toBeGreaterThanOrEqual(12);
  });

  it("turns to EVALSHA when the server will not load the library (an ACL, a managed Redis)", async () => {
    const { script, calls } = counting(client, {
      fcall: "ERR Function not found",
      load: "NOPERM User default has no permissions to run the 'function|load' command",
    });
    const store = new RedisStore(script, { prefix: `${prefix}c:` });
    expect(await chargeTen(store, "no-load")).toEqual(EIGHT_THEN_BLOCKED);
    expect(store.functions).toBe(false);
    expect([calls.fcall, calls.load]).toEqual([1, 1]);
  });

  it("fails the call, and keeps to functions, when loading fails for another reason", async () => {
    const { script } = counting(client, { fcall: "ERR Function not found", load: "Connection is closed." });
    const store = new RedisStore(script, { prefix: `${prefix}d:` });
    const engine = new Engine({ store });
    const decision = await engine.check(new Ledger("functions", "lost"), "1", new Budget({ maxSpend: "2" }));
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toBe("STORE_ERROR");
    expect(store.functions).toBe(true);
  });

  it("never calls FCALL with functions: false", async () => {
    const { script, calls } = counting(client);
    const store = new RedisStore(script, { prefix: `${prefix}e:`, functions: false });
    expect(store.functions).toBe(false);
    expect(await chargeTen(store, "scripts")).toEqual(EIGHT_THEN_BLOCKED);
    expect([calls.fcall, calls.load]).toEqual([0, 0]);
  });

  it("keeps totals exact past the bound of the library's caches (distinct amounts and budgets)", async () => {
    const store = new RedisStore(client, { prefix: `${prefix}f:` });
    // A generous timeout: the point is the totals, on a machine that may be busy.
    const engine = new Engine({ store, storeTimeoutMs: 30_000 });
    // 1,500 distinct amounts into one ledger, and 1,500 distinct budgets (limit texts), in
    // waves of 256 concurrent calls (several batches each): each cache is emptied on the way.
    const ledger = new Ledger("functions", "caches");
    const wide = new Budget({ maxSpend: "1000000", window: 3600 });
    let expected = 0n;
    let checks: Promise<{ allowed: boolean }>[] = [];
    const decisions: { allowed: boolean }[] = [];
    for (let i = 1; i <= 1500; i++) {
      if (checks.length >= 256) {
        decisions.push(...(await Promise.all(checks)));
        checks = [];
      }
      expected += BigInt(i) * 1000n + 7n;
      const amount = `0.00${String(i * 1000 + 7).padStart(7, "0")}`; // (i·1000 + 7) × 10⁻⁹
      checks.push(engine.check(ledger, amount, wide));
      const own = new Budget({ maxSpend: String(100 + i), window: 60 + i });
      checks.push(engine.check(new Ledger("functions", `budget:${i}`), String(100 + i), own));
    }
    decisions.push(...(await Promise.all(checks)));
    expect(decisions).toHaveLength(3000);
    expect(decisions.every((d) => d.allowed)).toBe(true);
    const whole = expected / 1_000_000_000n;
    const fraction = (expected % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
    expect((await engine.spent(ledger, wide)).toString()).toBe(fraction ? `${whole}.${fraction}` : `${whole}`);
    // Each budget's ledger is full: one unit more is blocked, by its own limit.
    const i = 1234;
    const full = await engine.check(
      new Ledger("functions", `budget:${i}`),
      "1",
      new Budget({ maxSpend: String(100 + i), window: 60 + i }),
    );
    expect(full.allowed).toBe(false);
    expect(store.functions).toBe(true);
  });
});

describe.skipIf(!hasServer)("RedisStore on a server that lost its library", () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = new RedisServer(await sparePort());
    await server.start();
    client = new Redis({ port: server.port, host: "127.0.0.1" });
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it("loads it again by itself, once for the batches that missed it together, and goes on by FCALL", async () => {
    const store = new RedisStore(client, { prefix: "fn:lost:" });
    const engine = new Engine({ store });
    const budget = new Budget({ maxSpend: "10" });
    const ledger = new Ledger("functions", "lost");
    expect((await engine.check(ledger, "1", budget)).allowed).toBe(true);
    await client.call("FUNCTION", "FLUSH");
    // Eight calls in one tick: two batches (none in flight), both refused for the missing library.
    const decisions = await Promise.all(Array.from({ length: 8 }, () => engine.check(ledger, "1", budget)));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect((await engine.check(ledger, "2", budget)).allowed).toBe(false);
    expect(store.functions).toBe(true);
    const info = await client.info("commandstats");
    expect(Number(info.match(/cmdstat_function\|load:calls=(\d+)/)?.[1])).toBe(2);
    expect((await engine.spent(ledger, budget)).toString()).toBe("9");
  });
});
