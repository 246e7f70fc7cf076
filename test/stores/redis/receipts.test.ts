/**
 * A call that reached Redis but whose answer did not reach the engine in time: it must neither
 * count twice (a client resending it after a dropped connection) nor stay recorded when the engine
 * reported it failed (a blocked action must not leave a phantom spend).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Budget, Engine, Ledger } from "../../../src/index.js";
import type { StoreLimit, StoreLine } from "../../../src/store.js";
import { RedisStore, type ScriptClient } from "../../../src/stores/redis/index.js";
import { findService } from "../../support/services.js";
import { directCall, sleep, uniquePrefix, waitFor } from "./support/helpers.js";

const service = await findService("REDIS_URL");

describe.skipIf(!service.ok)("RedisStore receipts and reversals", () => {
  const prefix = uniquePrefix("receipts");
  let client: Redis;
  let plain: RedisStore;

  beforeAll(() => {
    client = new Redis(service.url);
    plain = new RedisStore(client, { prefix });
  });

  afterAll(async () => {
    await plain.clearAll(directCall());
    await client.quit();
  });

  const run = (sha1: string, keys: readonly string[], args: readonly string[]) =>
    client.evalsha(sha1, keys.length, ...keys, ...args);
  const budget = new Budget({ maxSpend: "10", window: 3600 });
  const fresh = (name: string) => new Ledger(`${name}${Math.random().toString(36).slice(2, 8)}`, "m");

  /** A store over a client that misbehaves as `mode` says, on calls while `armed` is true. */
  function rig(mode: "resend" | "lose-reply" | "lose-request" | "slow-reply") {
    const state = { armed: false, lost: [] as (() => Promise<unknown>)[] };
    const adapter: ScriptClient = {
      evalSha: async (sha1, keys, args) => {
        if (!state.armed) return run(sha1, keys, args);
        switch (mode) {
          case "resend": // ran, connection dropped, the client sent it again: the second answer arrives
            await run(sha1, keys, args);
            return run(sha1, keys, args);
          case "lose-reply": // ran, connection dropped, no resend
            await run(sha1, keys, args);
            throw new Error("Connection is closed.");
          case "lose-request": // never reached Redis, though it might yet
            state.lost.push(() => run(sha1, keys, args));
            throw new Error("Connection is closed.");
          case "slow-reply": {
            const reply = await run(sha1, keys, args);
            await sleep(200);
            return reply;
          }
        }
      },
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
    };
    const store = new RedisStore(adapter, { prefix });
    const engine = new Engine({ store, storeTimeoutMs: 100 });
    const settled = () => waitFor(() => store.pendingReversals === 0, 5000, "reversals to reach Redis");
    return { state, store, engine, settled };
  }

  const spent = (ledger: Ledger) => new Engine({ store: plain }).spent(ledger, budget).then((a) => a.toString());

  it("does not apply twice a batch that the client sends again, and undoes it since its answer is lost", async () => {
    const { state, engine, settled } = rig("resend");
    const l = fresh("resend");
    await engine.check(l, "1", budget); // learns the server clock
    state.armed = true;
    const decision = await engine.check(l, "2", budget);
    expect(decision.reason).toBe("STORE_ERROR");
    expect(decision.message).toMatch(/connection dropped before the answer arrived; the call is being undone/);
    state.armed = false;
    await settled();
    expect(await spent(l)).toBe("1");
  });

  it("undoes a charge and a hold whose answers were lost with the connection", async () => {
    const { state, engine, store, settled } = rig("lose-reply");
    const l = fresh("lost");
    await engine.check(l, "1", budget);
    state.armed = true;
    const [charged, held] = await Promise.all([engine.check(l, "2", budget), engine.reserve([l], "3", budget)]);
    state.armed = false;
    expect(charged.reason).toBe("STORE_ERROR");
    expect(held.reservation).toBeNull();
    expect(store.pendingReversals).toBe(2);
    await settled();
    expect(await spent(l)).toBe("1");
    expect(store.lostReversals).toBe(0);
  });

  it("cancels a batch that never ran, so that it never will", async () => {
    const { state, engine, settled } = rig("lose-request");
    const l = fresh("never");
    await engine.check(l, "1", budget);
    state.armed = true;
    expect((await engine.check(l, "2", budget)).reason).toBe("STORE_ERROR");
    state.armed = false;
    await settled();
    // Now the lost request turns up after all (a queue flushed late; here with no deadline check
    // to stop it, as the deadline is still ahead): the tombstone receipt makes it a no-op.
    const [late] = state.lost;
    const reply = (await late?.()) as unknown[];
    expect(reply).toEqual(["R", "X"]);
    expect(await spent(l)).toBe("1");
  });

  it("reverses a charge that Redis ran in time but answered after the engine gave up", async () => {
    const { state, engine, settled } = rig("slow-reply");
    const l = fresh("slow");
    await engine.check(l, "1", budget);
    state.armed = true;
    const [charged, held] = await Promise.all([engine.check(l, "2", budget), engine.reserve(l, "3", budget)]);
    state.armed = false;
    expect(charged.message).toMatch(/did not answer within 100 ms/);
    expect(held.reservation).toBeNull();
    await sleep(250); // the answers arrive, late
    await settled();
    expect(await spent(l)).toBe("1");
  });

  it("takes a refund out of the window together with the spend it cancels, leaving other spends", async () => {
    const { state, settled, store } = rig("lose-reply");
    const clock = { now: 5_000_000 };
    const engine = new Engine({ store, clock: () => clock.now, storeTimeoutMs: 1000 });
    const w = new Budget({ maxSpend: "10", window: 60 });
    const l = fresh("window");
    const read = () => new Engine({ store: plain, clock: () => clock.now }).spent(l, w).then((a) => a.toString());
    await engine.check(l, "1", w);
    clock.now += 10;
    state.armed = true;
    expect((await engine.check(l, "2", w)).reason).toBe("STORE_ERROR");
    state.armed = false;
    await settled();
    expect(await read()).toBe("1");
    clock.now += 5;
    await engine.check(l, "0.5", w);
    expect(await read()).toBe("1.5");
    clock.now += 50.5; // t0 + 65.5: the first spend (t0) leaves
    expect(await read()).toBe("0.5");
    clock.now += 6.5; // t0 + 72: the undone one (t0 + 10) and its refund leave together
    expect(await read()).toBe("0.5");
    clock.now += 4; // t0 + 76: the last one (t0 + 15) leaves
    expect(await read()).toBe("0");
  });

  it("refunds a lost charge from every total that counted it, each window on its own", async () => {
    const { state, settled, store } = rig("lose-reply");
    const U = 10n ** 18n;
    const l = fresh("totals");
    const limits: StoreLimit[] = [
      { window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 100n * U, enforce: true },
      { window: { kind: "rolling", id: "r:3600", seconds: 3600 }, maxSpend: 100n * U, enforce: true },
      {
        window: { kind: "calendar", id: "c:p", boundaries: [0, 5_000_070, 6_000_000] },
        maxSpend: 100n * U,
        enforce: true,
      },
      { window: { kind: "lifetime", id: "life" }, maxSpend: 100n * U, enforce: false },
    ];
    const line: StoreLine = { ledger: l, key: l.toString(), limits };
    const at = (now: number) => directCall(5000, now);
    await store.charge([line], U, at(5_000_000));
    state.armed = true;
    await expect(store.charge([line], 2n * U, at(5_000_010))).rejects.toThrow(
      /connection dropped|Connection is closed/,
    );
    state.armed = false;
    await settled();
    expect((await plain.read(line, at(5_000_011))).state.committed).toEqual([U, U, U, U]);
    await store.charge([line], 4n * U, at(5_000_020));
    expect((await plain.read(line, at(5_000_065))).state.committed).toEqual([4n * U, 5n * U, 5n * U, 5n * U]);
    // The next period starts with nothing; the refunded spend left r:60 as 0, the others with their spends.
    expect((await plain.read(line, at(5_000_075))).state.committed).toEqual([4n * U, 5n * U, 0n, 5n * U]);
    expect((await plain.read(line, at(5_000_081))).state.committed).toEqual([0n, 5n * U, 0n, 5n * U]);
  });
});
