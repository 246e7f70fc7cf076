import fc from "fast-check";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Budget,
  ConfigurationError,
  Engine,
  Ledger,
  ReservationNotFoundError,
  StateError,
  StoreErrorMode,
} from "../../../src/index.js";
import { ARITHMETIC_LUA, amountOf } from "../../../src/stores/redis/arith.js";
import { escapeKeyPart, LAYOUT_VERSION, RedisStore, type ScriptClient } from "../../../src/stores/redis/index.js";
import { findService } from "../../support/services.js";
import { clusterHashTag, directCall, sleep, uniquePrefix } from "./support/helpers.js";

const service = await findService("REDIS_URL");

describe.skipIf(!service.ok)("RedisStore on a real Redis", () => {
  let client: Redis;
  let store: RedisStore;
  const prefix = uniquePrefix("redis");
  const extraStores: RedisStore[] = [];

  beforeAll(() => {
    client = new Redis(service.url);
    store = new RedisStore(client, { prefix });
  });

  afterAll(async () => {
    // clearAll by prefix, through a store not in cluster mode (which refuses it).
    for (const s of [store, ...extraStores]) await new RedisStore(client, { prefix: s.prefix }).clearAll(directCall());
    await client.quit();
  });

  /** Keys under the test prefix (SCAN: the prefix is unique to this run). */
  async function keysUnder(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
    return found;
  }

  describe("exact arithmetic in Lua", () => {
    const harness = `${ARITHMETIC_LUA}
      local ah, am, al = dec(ARGV[1])
      local bh, bm, bl = dec(ARGV[2])
      local sh, sm, sl = add3(ah, am, al, bh, bm, bl)
      local dh, dm, dl = sub3(ah, am, al, bh, bm, bl)
      return { amount_out(sh, sm, sl), amount_out(dh, dm, dl), le3(ah, am, al, bh, bm, bl) and 1 or 0 }`;
    const LIMIT = 10n ** 45n;

    async function lua(a: bigint, b: bigint): Promise<[bigint | undefined, bigint | undefined, number]> {
      const r = (await client.eval(harness, 0, a.toString(), b.toString())) as unknown[];
      return [amountOf(r[0]), amountOf(r[1]), r[2] as number];
    }

    async function expectLikeBigint(a: bigint, b: bigint) {
      if (a + b >= LIMIT) {
        await expect(lua(a, b)).rejects.toThrow(/more than 45 digits/);
        return;
      }
      const [sum, difference, lessOrEqual] = await lua(a, b);
      expect(sum).toBe(a + b);
      expect(difference).toBe(a >= b ? a - b : 0n);
      expect(lessOrEqual).toBe(a <= b ? 1 : 0);
    }

    it("adds, subtracts and compares like bigint, across limb boundaries, and refuses totals past 45 digits", async () => {
      const edges = [
        0n,
        1n,
        10n ** 15n - 1n,
        10n ** 15n,
        10n ** 30n - 1n,
        10n ** 30n,
        10n ** 38n - 1n,
        10n ** 44n,
        10n ** 45n - 1n,
      ];
      for (const a of edges) for (const b of edges) await expectLikeBigint(a, b);
      await expect(lua(10n ** 45n, 0n)).rejects.toThrow(/amount of more than 45 digits/);
    });

    it("matches bigint on random operands of up to 45 digits", async () => {
      const digits = fc.bigInt({ min: 0n, max: LIMIT - 1n });
      await fc.assert(
        fc.asyncProperty(digits, digits, async (a, b) => expectLikeBigint(a, b)),
        { numRuns: 300 },
      );
    });
  });

  function rig(options: { ttl?: number; clock?: boolean; timeoutMs?: number } = {}) {
    const clock = { now: 1_000_000 };
    const engine = new Engine({
      store,
      ...(options.clock === false ? {} : { clock: () => clock.now }),
      reservationTtl: options.ttl ?? 600,
      storeTimeoutMs: options.timeoutMs ?? 5000,
    });
    const ns = `r${Math.random().toString(36).slice(2, 10)}`;
    return { engine, clock, ns, ledger: (resource = "m", principal = "global") => new Ledger(ns, resource, principal) };
  }

  it("keeps totals exact above 2^53 units, with 18 decimal places, and beyond 38 digits", async () => {
    const { engine, ledger } = rig();
    const l = ledger();
    const lifetime = new Budget({ maxSpend: "99999999999999999999.999999999999999999", window: null });
    const steps = ["0.000000000000000001", "9007.199254740993", "123456789.123456789012345678", "0.999999999999999999"];
    let expected = 0n;
    for (const step of steps) {
      expect((await engine.check(l, step, lifetime)).allowed).toBe(true);
      expected +=
        BigInt(step.replace(".", "").replace(/^0+/, "")) * 10n ** BigInt(18 - (step.split(".")[1]?.length ?? 0));
    }
    expect((await engine.spent(l, lifetime)).units).toBe(expected);
    expect(expected > 2n ** 53n).toBe(true);

    // A commit above its estimate is recorded in full, so a total can pass the 38 digits of any budget.
    const big = ledger("big");
    const holds = [await engine.reserve(big, "1", lifetime), await engine.reserve(big, "1", lifetime)];
    for (const { reservation } of holds) {
      if (!reservation) throw new Error("expected a reservation");
      await engine.commit(reservation, "99999999999999999999.999999999999999999");
    }
    expect((await engine.spent(big, lifetime)).units).toBe(2n * (10n ** 38n - 1n));
    // Never allowed: blocked, or refused as a total the decision cannot show (the engine rethrows it).
    const past = await engine.check(big, "0.000000000000000001", lifetime).then(
      (d) => d.blocked,
      () => true,
    );
    expect(past).toBe(true);
  });

  it("keeps apart ledgers whose keys a careless layout would merge", async () => {
    const { engine, ns } = rig();
    const budget = new Budget({ maxSpend: "1", window: 3600 });
    const ledgers = [
      new Ledger(ns, "a{b}", "x"),
      new Ledger(ns, "a%007Bb%007D", "x"),
      new Ledger(ns, "r", "\uD800"),
      new Ledger(ns, "r", "\uFFFD"),
      new Ledger(ns, "r", "p:t"),
      new Ledger(ns, "r:t", "p"),
    ];
    for (const l of ledgers) expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    for (const l of ledgers) expect((await engine.spent(l, budget)).toString()).toBe("1");
  });

  it("puts every key of a ledger in one Cluster slot, and ledgers of one hashTag together", async () => {
    const { engine, ns, ledger } = rig();
    const budget = new Budget({ maxSpend: "10", window: 60 });
    const l = ledger("tagged{x}", "user:}{");
    await engine.check(l, "1", budget);
    await engine.reserve(l, "1", budget);
    const keys = await keysUnder(`${prefix}v4:{${ns}*`);
    // totals, spends, holds and the hold itself, plus the receipts of the two calls
    expect(keys.filter((k) => !k.includes("}:b:")).length).toBe(4);
    expect(keys.filter((k) => k.includes("}:b:")).length).toBe(2);
    expect(new Set(keys.map(clusterHashTag))).toEqual(new Set([escapeKeyPart(l.toString())]));

    const tagPrefix = uniquePrefix("tag");
    const tagged = new RedisStore(client, { prefix: tagPrefix, cluster: true, hashTag: (ledger) => ledger.namespace });
    extraStores.push(tagged);
    const te = new Engine({ store: tagged });
    const both = [ledger("a"), ledger("b")];
    expect((await te.check(both, "1", budget)).allowed).toBe(true);
    const tagKeys = await keysUnder(`${tagPrefix}v4:*`);
    expect(tagKeys.length).toBe(5); // totals and spends of each, and one receipt
    expect(new Set(tagKeys.map(clusterHashTag))).toEqual(new Set([ns]));
  });

  it("refuses on a cluster to charge ledgers of different slots together, saying what to do", async () => {
    const clustered = new RedisStore(client, { prefix: uniquePrefix("cluster"), cluster: true });
    extraStores.push(clustered);
    const engine = new Engine({ store: clustered });
    const budget = new Budget({ maxSpend: "10", window: 60 });
    const apart = engine.check([new Ledger("n", "a"), new Ledger("n", "b")], "1", budget);
    await expect(apart).rejects.toBeInstanceOf(ConfigurationError);
    await expect(apart).rejects.toThrow(/different slots.*hashTag/);
    expect((await engine.check(new Ledger("n", "a"), "1", budget)).allowed).toBe(true);
    await expect(clustered.clearAll(directCall())).rejects.toBeInstanceOf(ConfigurationError); // not an outage
  });

  it("expires an orphaned reservation on the server's clock, and its expiry needs no scan", async () => {
    const { engine, ledger } = rig({ ttl: 0.3, clock: false });
    const budget = new Budget({ maxSpend: "1", window: 3600 });
    const l = ledger();
    const { reservation } = await engine.reserve(l, "0.6", budget);
    expect(reservation).not.toBeNull();
    expect((await engine.spent(l, budget)).toString()).toBe("0.6");
    await sleep(450);
    expect((await engine.spent(l, budget)).isZero()).toBe(true);
    const holdsKey = (await keysUnder(`${prefix}v4:{${escapeKeyPart(l.toString())}}:x`))[0];
    expect(holdsKey).toBeUndefined(); // the due hold left its sorted set, which emptied and went
    // A late commit is still recorded, and said to be late.
    if (!reservation) throw new Error("expected a reservation");
    const settled = await engine.commit(reservation, "0.25");
    expect(settled.late).toBe(true);
    expect((await engine.spent(l, budget)).toString()).toBe("0.25");
  });

  it("gives an idle windowed ledger's keys a TTL of about its window, and keeps a lifetime ledger's", async () => {
    const { engine, ledger } = rig({ ttl: 5 });
    const windowed = ledger("w");
    const lifetime = ledger("l");
    await engine.check(windowed, "1", new Budget({ maxSpend: "10", window: 20 }));
    await engine.check(lifetime, "1", new Budget({ maxSpend: "10", window: null }));
    const ledgerKeys = (l: Ledger) => keysUnder(`${prefix}v4:{${escapeKeyPart(l.toString())}}:[tlx]*`);
    expect((await ledgerKeys(windowed)).length).toBe(2); // totals and spends
    for (const key of await ledgerKeys(windowed)) {
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(20_000);
      expect(ttl).toBeLessThanOrEqual(21_000 + 2_625);
    }
    expect((await ledgerKeys(lifetime)).length).toBe(1); // totals only: a lifetime ledger keeps no spend list
    for (const key of await ledgerKeys(lifetime)) expect(await client.pttl(key)).toBe(-1);
    for (const key of await keysUnder(`${prefix}v4:{${escapeKeyPart(windowed.toString())}}:b:*`)) {
      expect(await client.pttl(key)).toBeLessThanOrEqual(10_000);
    }
  });

  it("dates a spend that arrives behind the ledger's newest at the newest, so that time never runs backward", async () => {
    const { engine, clock, ledger } = rig();
    const budget = new Budget({ maxSpend: "10", window: 60 });
    const l = ledger();
    clock.now = 1_000_100;
    await engine.check(l, "1", budget);
    clock.now = 1_000_050; // another process's clock, behind: recorded at 1_000_100
    await engine.check(l, "2", budget);
    clock.now = 1_000_160; // both at the edge: still counted
    expect((await engine.spent(l, budget)).toString()).toBe("3");
    clock.now = 1_000_160.5; // both left together
    expect((await engine.spent(l, budget)).isZero()).toBe(true);
  });

  it("never lets a call take effect after the engine gave up, whatever the client's wall clock says", async () => {
    // A client that holds every command back longer than the engine waits, as an offline queue does.
    const held: Promise<unknown>[] = [];
    const slow: ScriptClient = {
      evalSha: (sha1, keys, args) => {
        const sent = sleep(250).then(() => client.evalsha(sha1, keys.length, ...keys, ...args));
        held.push(sent.catch(() => undefined));
        return sent;
      },
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
    };
    const slowStore = new RedisStore(slow, { prefix });
    const engine = new Engine({ store: slowStore, storeTimeoutMs: 100 });
    const fast = new Engine({ store });
    const budget = new Budget({ maxSpend: "10", window: 3600 });
    const l = new Ledger(`late${Math.random().toString(36).slice(2, 8)}`, "m");
    // Calibrate the slow store's view of the server clock once, with room to spare.
    await new Engine({ store: slowStore, storeTimeoutMs: 2000 }).spent(l, budget);

    for (const skew of [0, 3_600_000, -3_600_000]) {
      const realNow = Date.now.bind(Date);
      const spy = vi.spyOn(Date, "now").mockImplementation(() => realNow() + skew);
      try {
        const decision = await engine.check(l, "1", budget);
        expect(decision.reason).toBe("STORE_ERROR");
        expect(decision.message).toMatch(/did not answer within 100 ms/);
        const { reservation, decision: held } = await engine.reserve(l, "1", budget);
        expect(reservation).toBeNull();
        expect(held.reason).toBe("STORE_ERROR");
      } finally {
        spy.mockRestore();
      }
    }
    await Promise.all(held); // every held command has now reached Redis
    expect(held.length).toBeGreaterThanOrEqual(6);
    expect((await fast.spent(l, budget)).isZero()).toBe(true);
  });

  it("adds its connection listeners to a client once, however many stores share it, and each store still decides", async () => {
    const own = new Redis(service.url);
    const node = createClient({ url: service.url });
    node.on("error", () => {});
    await node.connect();
    try {
      const before = [own.listenerCount("ready"), node.listenerCount("ready"), node.listenerCount("error")];
      const stores = Array.from({ length: 20 }, (_, i) => [
        new RedisStore(own, { prefix: `${prefix}one${i}:` }),
        new RedisStore(node, { prefix: `${prefix}one${i}:` }),
      ]).flat();
      const after = [own.listenerCount("ready"), node.listenerCount("ready"), node.listenerCount("error")];
      expect(after.map((n, i) => n - (before[i] as number))).toEqual([1, 2, 1]);
      const budget = new Budget({ maxSpend: "10", window: 3600 });
      const ledger = new Ledger(`once${Math.random().toString(36).slice(2, 8)}`, "m");
      for (const s of stores) expect((await new Engine({ store: s }).check(ledger, "1", budget)).allowed).toBe(true);
      extraStores.push(...stores);
    } finally {
      own.disconnect();
      await node.quit();
    }
  });

  it("fails at once while disconnected instead of queueing, and resumes on reconnect", async () => {
    const own = new Redis(service.url);
    const ownStore = new RedisStore(own, { prefix });
    const engine = new Engine({ store: ownStore, storeTimeoutMs: 2000 });
    const budget = new Budget({ maxSpend: "10", window: 3600 });
    const l = new Ledger(`dis${Math.random().toString(36).slice(2, 8)}`, "m");
    expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    const ready = new Promise<void>((resolve) => own.once("ready", () => resolve()));
    const closed = new Promise<void>((resolve) => own.once("close", () => resolve()));
    own.disconnect(true); // drops the socket; ioredis reconnects on its own
    await closed;
    const started = performance.now();
    const down = await engine.check(l, "1", budget);
    expect(performance.now() - started).toBeLessThan(500); // not the 2000 ms timeout: no queueing
    expect(down.reason).toBe("STORE_ERROR");
    expect(down.message).toMatch(/not connected/);
    await ready;
    expect((await engine.check(l, "1", budget)).allowed).toBe(true);
    expect((await engine.spent(l, budget)).toString()).toBe("2");
    own.disconnect();
  });

  it("keeps every key under the prefix and the layout version, and names the layout in a marker that clearAll removes", async () => {
    const own = uniquePrefix("layout");
    const marked = new RedisStore(client, { prefix: own });
    const engine = new Engine({ store: marked });
    const budget = new Budget({ maxSpend: "10", window: 60 });
    await engine.reserve(new Ledger("n", "a"), "1", budget);
    expect(await client.get(`${own}layout`)).toBe(String(LAYOUT_VERSION));
    const keys = await keysUnder(`${own}*`);
    expect(keys.filter((k) => !k.startsWith(`${own}v${LAYOUT_VERSION}:{`))).toEqual([`${own}layout`]);
    await marked.clearAll(directCall());
    expect(await keysUnder(`${own}*`)).toEqual([]);
    expect((await engine.check(new Ledger("n", "a"), "1", budget)).allowed).toBe(true); // claims it again
    expect(await client.get(`${own}layout`)).toBe(String(LAYOUT_VERSION));
    await marked.clearAll(directCall());
  });

  it("refuses, even under FAIL_OPEN, a prefix whose marker names another key layout, saying what to do", async () => {
    const old = uniquePrefix("oldlayout");
    await client.set(`${old}layout`, "2");
    const refusing = new RedisStore(client, { prefix: old });
    const engine = new Engine({ store: refusing });
    const open = new Budget({ maxSpend: "10", window: 60, onStoreError: StoreErrorMode.FAIL_OPEN });
    const check = engine.check(new Ledger("n", "a"), "1", open);
    await expect(check).rejects.toBeInstanceOf(ConfigurationError);
    await expect(check).rejects.toThrow(/layout "2" \(marker key .*layout 4\. Stop the processes .* prefix of its own/);
    expect(await keysUnder(`${old}*`)).toEqual([`${old}layout`]); // nothing written
    await refusing.clearAll(directCall());
    expect(await client.get(`${old}layout`)).toBe("2"); // another layout's marker is not this store's to remove
    await client.del(`${old}layout`);
  });

  it("throws corrupt state as a StateError, even under FAIL_OPEN, and changes nothing", async () => {
    const { engine, ledger } = rig();
    const budget = new Budget({ maxSpend: "10", window: 3600 });
    const l = ledger();
    await engine.check(l, "1", budget);
    const totals = `${prefix}v4:{${escapeKeyPart(l.toString())}}:t`;
    const spends = `${prefix}v4:{${escapeKeyPart(l.toString())}}:l`;
    await client.set(totals, "not a state", "KEEPTTL");
    const open = new Budget({ maxSpend: "10", window: 3600, onStoreError: StoreErrorMode.FAIL_OPEN });
    for (const b of [budget, open]) {
      await expect(engine.check(l, "1", b)).rejects.toThrow(/corrupt budgetgate state/);
      await expect(engine.check(l, "1", b)).rejects.toBeInstanceOf(StateError);
    }
    expect(await client.llen(spends)).toBe(1); // one spend: its amount (the oldest time is in the state)
    expect(await client.get(totals)).toBe("not a state");
    await expect(engine.spent(l, budget)).rejects.toBeInstanceOf(StateError);
  });

  it("answers other operations of a batch normally when one of them fails", async () => {
    const { engine, ledger } = rig();
    const budget = new Budget({ maxSpend: "10", window: 3600 });
    // Broken ledgers first, in the middle and last of one batch: each failure is its own, and the
    // batch goes on with the operation after it.
    const names = ["broken0", "ok0", "ok1", "broken1", "broken2", "ok2", "ok3", "broken3"];
    for (const name of names.filter((n) => n.startsWith("broken"))) {
      await client.set(`${prefix}v4:{${escapeKeyPart(ledger(name).toString())}}:t`, "garbage");
    }
    const decisions = await Promise.all(
      names.map((name) =>
        engine.check(ledger(name), "1", budget).catch((error: unknown) => ({ reason: error, allowed: false })),
      ),
    );
    names.forEach((name, i) => {
      if (name.startsWith("broken")) expect(decisions[i]?.reason).toBeInstanceOf(StateError);
      else expect(decisions[i]?.allowed).toBe(true);
    });
    for (const name of names.filter((n) => n.startsWith("ok"))) {
      expect((await engine.spent(ledger(name), budget)).toString()).toBe("1");
    }
  });

  it("takes a ScriptClient, such as an adapter for an HTTP client", async () => {
    const adapter: ScriptClient = {
      evalSha: (sha1, keys, args) => client.evalsha(sha1, keys.length, ...keys, ...args),
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
    };
    const adapted = new RedisStore(adapter, { prefix });
    const engine = new Engine({ store: adapted });
    const budget = new Budget({ maxSpend: "1", window: 60 });
    const l = new Ledger(`ad${Math.random().toString(36).slice(2, 8)}`, "m");
    expect((await engine.check(l, "0.6", budget)).allowed).toBe(true);
    expect((await engine.check(l, "0.6", budget)).blocked).toBe(true);
  });

  it("stays exact through an adapter that parses replies as numbers, as Upstash's does by default", async () => {
    let converted = 0;
    const lossy: ScriptClient = {
      evalSha: async (sha1, keys, args) => {
        const reply = (await client.evalsha(sha1, keys.length, ...keys, ...args)) as unknown[];
        return reply.map((x) => {
          if (typeof x !== "string" || !/^-?\d+$/.test(x)) return x;
          converted++;
          return Number(x);
        });
      },
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
    };
    const engine = new Engine({ store: new RedisStore(lossy, { prefix }) });
    const budget = new Budget({ maxSpend: "100000", window: 60 });
    const l = new Ledger(`lossy${Math.random().toString(36).slice(2, 8)}`, "m");
    // 10^23 + 10^-18 units would round as a double: amounts travel inside strings that stay strings.
    expect((await engine.check(l, "99999.000000000000000001", budget)).allowed).toBe(true);
    const second = await engine.check(l, "0.999999999999999999", budget);
    expect(second.allowed).toBe(true);
    expect(second.spentInWindow.toString()).toBe("100000.000000000000000000");
    expect((await engine.spent(l, budget)).toString()).toBe("100000");
    expect((await engine.check(l, "0.000000000000000001", budget)).blocked).toBe(true);
    expect(converted).toBeGreaterThan(0); // the adapter did turn the clock's digits into numbers
  });

  it("releases a hold made through another store object, once, and rejects bad clients and options", async () => {
    const other = new RedisStore(client, { prefix }); // as another process would have
    const engine = new Engine({ store });
    const stranger = new Engine({ store: other });
    const budget = new Budget({ maxSpend: "1", window: 60 });
    const l = new Ledger(`rel${Math.random().toString(36).slice(2, 8)}`, "m");
    const { reservation } = await engine.reserve(l, "0.5", budget);
    if (!reservation) throw new Error("expected a reservation");
    expect((await stranger.spent(l, budget)).toString()).toBe("0.5");
    expect((await stranger.release(reservation)).late).toBe(false);
    expect((await engine.spent(l, budget)).isZero()).toBe(true);
    await expect(engine.release(reservation)).rejects.toBeInstanceOf(ReservationNotFoundError);

    expect(() => new RedisStore({} as never)).toThrow(ConfigurationError);
    expect(() => new RedisStore(client, { prefix: "a{b" })).toThrow(/without "\{" or "\}"/);
    expect(() => new RedisStore(client, { cluster: "yes" as never })).toThrow(ConfigurationError);
    const open = new Budget({ maxSpend: "10", onStoreError: StoreErrorMode.FAIL_OPEN });
    for (const hashTag of [
      () => "",
      () => undefined as never,
      () => {
        throw new Error("no tag");
      },
    ]) {
      const wrong = new Engine({ store: new RedisStore(client, { prefix, hashTag }) });
      await expect(wrong.check(new Ledger("e", "m"), "1", open)).rejects.toThrow(ConfigurationError);
      await expect(wrong.check(new Ledger("e", "m"), "1", open)).rejects.toThrow(/hashTag (returned|threw)/);
    }
  });
});
