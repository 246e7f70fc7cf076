/**
 * RedisStore on the store contract of several limits per line (issue #13), called directly with
 * hand-made StoreLines: running totals per window id seeded from the log, calendar periods chosen
 * by the ledger's time in Lua (PeriodRangeError before any write), shadow limits, time clamped per
 * ledger, read, scan, commit's states, and the keys' expiry.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger, PeriodRangeError } from "../../../src/index.js";
import { currentPeriod, type StoreLimit, type StoreLine, type StoreWindow } from "../../../src/store.js";
import { escapeKeyPart, RedisStore, type ScriptClient } from "../../../src/stores/redis/index.js";
import { findService } from "../../support/services.js";
import { directCall, uniquePrefix } from "./support/helpers.js";

const service = await findService("REDIS_URL");
const U = 10n ** 18n;

const rolling = (seconds: number): StoreWindow => ({ kind: "rolling", id: `r:${seconds}`, seconds });
const calendar = (id: string, boundaries: number[]): StoreWindow => ({ kind: "calendar", id, boundaries });
const lifetime: StoreWindow = { kind: "lifetime", id: "life" };
const limit = (window: StoreWindow, max: bigint, enforce = true): StoreLimit => ({
  window,
  maxSpend: max * U,
  enforce,
});

describe.skipIf(!service.ok)("RedisStore with several limits per line", () => {
  let client: Redis;
  let store: RedisStore;
  const prefix = uniquePrefix("limits");
  let counter = 0;

  beforeAll(() => {
    client = new Redis(service.url);
    store = new RedisStore(client, { prefix });
  });

  afterAll(async () => {
    await store.clearAll(directCall());
    await client.quit();
  });

  function ledger(resource = "m"): Ledger {
    return new Ledger(`ns${++counter}`, resource, "p");
  }
  const line = (l: Ledger, limits: readonly StoreLimit[]): StoreLine => ({ ledger: l, key: l.toString(), limits });
  const at = (now: number) => directCall(10_000, now);
  const stateKey = (l: Ledger, kind = "t") => `${prefix}v4:{${escapeKeyPart(l.toString())}}:${kind}`;

  it("allows only when every enforced limit has room, and answers each limit's committed before the call", async () => {
    const l = ledger();
    const limits = [limit(rolling(60), 3n), limit(rolling(3600), 5n), limit(lifetime, 4n)];
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await store.charge([line(l, limits)], U, at(1000 + i)));
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false, false, false]);
    expect(answers[3]?.lines[0]).toEqual({ committed: [3n * U, 3n * U, 3n * U], reserved: 0n, newest: 1002 });
    expect(answers[3]?.now).toBe(1003);
    // 60 s later the burst limit has room again; the lifetime limit (4) lets one more through.
    const later = await store.charge([line(l, limits)], U, at(1063));
    expect(later.allowed).toBe(true);
    expect(later.lines[0]?.committed).toEqual([0n, 3n * U, 3n * U]);
    expect((await store.charge([line(l, limits)], U, at(1064))).allowed).toBe(false);
  });

  it("never blocks on a shadow limit but records against it, and two limits of one window share its total", async () => {
    const l = ledger();
    const limits = [limit(rolling(60), 1n, false), limit(rolling(60), 10n), limit(rolling(60), 2n, false)];
    for (let i = 0; i < 3; i++) expect((await store.charge([line(l, limits)], U, at(2000 + i))).allowed).toBe(true);
    const { state } = await store.read(line(l, limits), at(2003));
    expect(state.committed).toEqual([3n * U, 3n * U, 3n * U]);
  });

  it("blocks all lines or none, and records on every line", async () => {
    const a = ledger("a");
    const b = ledger("b");
    const la = line(a, [limit(rolling(60), 2n)]);
    const lb = line(b, [limit(rolling(60), 10n), limit(calendar("c:t", [0, 1e9]), 10n)]);
    expect((await store.charge([la, lb], U, at(100))).allowed).toBe(true);
    expect((await store.charge([la, lb], U, at(101))).allowed).toBe(true);
    const blocked = await store.charge([la, lb], U, at(102));
    expect(blocked.allowed).toBe(false);
    expect(blocked.lines.map((s) => s.committed)).toEqual([[2n * U], [2n * U, 2n * U]]);
    expect((await store.read(lb, at(103))).state.committed).toEqual([2n * U, 2n * U]);
  });

  it("works at max(now, newest) per ledger, so that a clock behind never reorders the log", async () => {
    const l = ledger();
    const limits = [limit(rolling(10), 100n)];
    await store.charge([line(l, limits)], U, at(5000));
    const behind = await store.charge([line(l, limits)], 2n * U, at(4000)); // recorded at 5000
    expect(behind.lines[0]?.newest).toBe(5000);
    expect((await store.read(line(l, limits), at(5010))).state).toEqual({
      committed: [3n * U],
      reserved: 0n,
      newest: 5000,
    });
    expect((await store.read(line(l, limits), at(5010.5))).state.committed).toEqual([0n]);
  });

  it("seeds a new window's total from the log, and records into every total the ledger keeps", async () => {
    const l = ledger();
    await store.charge([line(l, [limit(rolling(10), 100n)])], U, at(100));
    // The leftover of layout 3: spends made under a window, read under a lifetime budget, counted 0.
    expect((await store.read(line(l, [limit(lifetime, 100n)]), at(100))).state.committed).toEqual([U]);
    await store.charge([line(l, [limit(rolling(3600), 100n)])], 2n * U, at(105));
    // r:10 was not named, yet counts the spend; life too.
    const both = [limit(rolling(10), 100n), limit(rolling(3600), 100n), limit(lifetime, 100n)];
    expect((await store.read(line(l, both), at(106))).state.committed).toEqual([3n * U, 3n * U, 3n * U]);
    expect((await store.read(line(l, both), at(114))).state.committed).toEqual([2n * U, 3n * U, 3n * U]);
    // A new, longer window finds what the log still holds: the log keeps the longest rolling window's spends.
    expect((await store.read(line(l, [limit(rolling(86_400), 100n)]), at(120))).state.committed).toEqual([3n * U]);
  });

  it("restarts a calendar total in each period, from the log, by the ledger's time", async () => {
    const l = ledger();
    const day = (boundaries: number[]) => [limit(calendar("c:day", boundaries), 3n), limit(rolling(86_400 * 2), 100n)];
    const b = [0, 86_400, 172_800, 259_200];
    for (let i = 0; i < 3; i++) expect((await store.charge([line(l, day(b))], U, at(86_000 + i))).allowed).toBe(true);
    expect((await store.charge([line(l, day(b))], U, at(86_003))).allowed).toBe(false);
    // The next day starts with nothing spent in the period, at its boundary exactly.
    const next = await store.charge([line(l, day(b))], U, at(86_400));
    expect(next.allowed).toBe(true);
    expect(next.lines[0]?.committed).toEqual([0n, 3n * U]);
    // A call behind the newest spend still works at the newest: the same period.
    expect((await store.read(line(l, day(b)), at(86_399))).state.committed).toEqual([U, 4n * U]);
  });

  it("throws PeriodRangeError, carrying the ledger's time, before anything is written", async () => {
    const a = ledger("a");
    const b = ledger("b");
    const good = line(a, [limit(rolling(60), 10n)]);
    const bad = line(b, [limit(rolling(60), 10n), limit(calendar("c:x", [0, 100, 200]), 10n)]);
    const attempt = store.charge([good, bad], U, at(250));
    await expect(attempt).rejects.toBeInstanceOf(PeriodRangeError);
    await expect(attempt).rejects.toMatchObject({ windowId: "c:x", storeNow: 250 });
    await expect(store.reserve([good, bad], U, { id: "h-bad", ttl: 60, retain: 60 }, at(250))).rejects.toBeInstanceOf(
      PeriodRangeError,
    );
    expect(
      await client.exists(
        stateKey(a),
        stateKey(a, "l"),
        stateKey(b),
        `${prefix}v4:{${escapeKeyPart(a.toString())}}:h:h-bad`,
      ),
    ).toBe(0);
    // Under the server's clock the error names the server's time.
    const server = store.read(line(a, [limit(calendar("c:y", [0, 100]), 1n)]), directCall());
    await expect(server).rejects.toSatisfy((e: PeriodRangeError) => Math.abs(e.storeNow - Date.now() / 1000) < 60);
  });

  it("picks a calendar period by currentPeriod's rule", async () => {
    const l = ledger();
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 0, max: 1000 }),
        async (points, now) => {
          const boundaries = [...points].sort((x, y) => x - y);
          const window = { kind: "calendar", id: `c:${boundaries.join(",")}`, boundaries } as const;
          let expected: { start: number; end: number } | PeriodRangeError;
          try {
            expected = currentPeriod(window, now);
          } catch (error) {
            expected = error as PeriodRangeError;
          }
          const fresh = new Ledger(l.namespace, `p${now}`, boundaries.join("-"));
          const got = await store.charge([line(fresh, [limit(window, 10n)])], U, at(now)).catch((e: unknown) => e);
          if (expected instanceof PeriodRangeError) {
            expect(got).toBeInstanceOf(PeriodRangeError);
          } else {
            expect(got).not.toBeInstanceOf(Error);
            // The spend is in that period: a window of that period alone counts it.
            const only = { ...window, boundaries: [expected.start, expected.end] };
            expect((await store.read(line(fresh, [limit(only, 10n)]), at(now))).state.committed).toEqual([U]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("answers a commit with each line's state before it, the hold included unless late", async () => {
    const l = ledger();
    const limits = [limit(rolling(60), 10n), limit(lifetime, 10n)];
    const hold = { id: "h1", ttl: 30, retain: 600 };
    const reserved = await store.reserve([line(l, limits)], 2n * U, hold, at(100));
    expect(reserved.allowed).toBe(true);
    expect((await store.read(line(l, limits), at(101))).state).toEqual({
      committed: [0n, 0n],
      reserved: 2n * U,
      newest: null,
    });
    const commit = await store.commit("h1", [line(l, limits)], 3n * U, at(102));
    expect(commit).toEqual({ late: false, lines: [{ committed: [0n, 0n], reserved: 2n * U, newest: null }], now: 102 });
    expect((await store.read(line(l, limits), at(103))).state).toEqual({
      committed: [3n * U, 3n * U],
      reserved: 0n,
      newest: 102,
    });
    await store.reserve([line(l, limits)], U, { ...hold, id: "h2" }, at(110));
    const late = await store.commit("h2", [line(l, limits)], U, at(200));
    expect(late).toEqual({ late: true, lines: [{ committed: [0n, 3n * U], reserved: 0n, newest: 102 }], now: 200 });
    await store.reserve([line(l, limits)], U, { ...hold, id: "h3" }, at(210));
    expect(await store.release("h3", [line(l, limits)], at(211))).toEqual({ late: false });
  });

  it("scans the ledgers of a prefix page by page, glob characters taken literally", async () => {
    const globPrefix = uniquePrefix("scan*?[x]\\");
    const scanning = new RedisStore(client, { prefix: globPrefix });
    const decoy = new RedisStore(client, { prefix: `${globPrefix.slice(0, -3)}zz:` });
    try {
      const limits = [limit(rolling(60), 10n), limit(calendar("c:d", [0, 1e6]), 10n)];
      const mine = ["a*", "a?", "a[1]", "a%7B", "a{b}", "b"].map((r) => new Ledger("ns*", r, "p"));
      for (const [i, l] of mine.entries()) await scanning.charge([line(l, limits)], BigInt(i + 1) * U, at(500));
      await scanning.reserve([line(mine[0] as Ledger, limits)], U, { id: "h", ttl: 60, retain: 60 }, at(500));
      await scanning.charge([line(new Ledger("other", "a"), limits)], U, at(500));
      await decoy.charge([line(new Ledger("ns*", "a*"), limits)], U, at(500));
      const listed = new Map<string, { reserved: bigint; windows: { id: string; committed: bigint }[] }>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await scanning.scan({ prefix: "ns*:a", cursor, limit: 2 }, at(510));
        expect(page.entries.length).toBeLessThanOrEqual(2);
        expect(page.now).toBe(510);
        for (const entry of page.entries) {
          expect(listed.has(entry.ledger.toString())).toBe(false);
          listed.set(entry.ledger.toString(), { reserved: entry.reserved, windows: [...entry.windows] });
        }
        cursor = page.cursor;
        pages++;
      } while (cursor !== null && pages < 1000);
      expect([...listed.keys()].sort()).toEqual(
        mine
          .slice(0, 5)
          .map((l) => l.toString())
          .sort(),
      );
      expect(listed.get((mine[0] as Ledger).toString())).toEqual({
        reserved: U,
        windows: [
          { id: "r:60", committed: U },
          { id: "c:d", committed: U },
        ],
      });
      expect(listed.get((mine[4] as Ledger).toString())?.windows.map((w) => w.committed)).toEqual([5n * U, 5n * U]);
      // At a later time a rolling total that counts nothing is dropped (made again when named).
      const all = await scanning.scan({ prefix: "", cursor: null, limit: 1000 }, at(600));
      expect(all.entries.length).toBeGreaterThan(0);
      for (const entry of all.entries) {
        expect(entry.windows.map((w) => w.id)).toEqual(["c:d"]);
        expect(entry.windows[0]?.committed).not.toBe(0n);
      }
    } finally {
      await scanning.clearAll(directCall());
      await decoy.clearAll(directCall());
    }
  });

  it("expires an idle ledger's keys at the latest of its log, its period's end and its holds, and keeps a lifetime total", async () => {
    const windowed = ledger("w");
    await store.charge([line(windowed, [limit(rolling(20), 10n)])], U, directCall());
    for (const kind of ["t", "l"]) {
      const ttl = await client.pttl(stateKey(windowed, kind));
      expect(ttl).toBeGreaterThan(20_000);
      expect(ttl).toBeLessThanOrEqual(21_000 + 2_625);
    }
    const now = Date.now() / 1000;
    const periodic = ledger("c");
    await store.charge(
      [line(periodic, [limit(calendar("c:soon", [now - 10, now + 100]), 10n), limit(rolling(20), 10n)])],
      U,
      directCall(),
    );
    expect(await client.pttl(stateKey(periodic))).toBeGreaterThan(95_000);
    expect(await client.pttl(stateKey(periodic))).toBeLessThanOrEqual(101_000 + 12_625);
    const held = ledger("h");
    await store.reserve([line(held, [limit(rolling(20), 10n)])], U, { id: "hx", ttl: 300, retain: 10 }, directCall());
    expect(await client.pttl(stateKey(held))).toBeGreaterThan(299_000);
    expect(await client.pttl(stateKey(held, "x"))).toBeGreaterThan(299_000);
    const forever = ledger("l");
    await store.charge([line(forever, [limit(rolling(20), 10n)])], U, directCall());
    await store.charge([line(forever, [limit(lifetime, 10n)])], U, directCall());
    expect(await client.pttl(stateKey(forever))).toBe(-1);
    expect(await client.pttl(stateKey(forever, "l"))).toBe(-1);
  });

  it("drops the log's spends that no rolling window counts any more, and keeps none without a rolling window", async () => {
    const l = ledger();
    for (let i = 0; i < 100; i++) await store.charge([line(l, [limit(rolling(10), 1000n)])], U, at(i));
    expect(await client.llen(stateKey(l, "l"))).toBeLessThanOrEqual(11 + 32);
    expect((await store.read(line(l, [limit(rolling(10), 1000n)]), at(99))).state.committed).toEqual([11n * U]);
    const none = ledger("none");
    for (let i = 0; i < 5; i++)
      await store.charge([line(none, [limit(lifetime, 1000n), limit(calendar("c:a", [0, 1e9]), 1000n)])], U, at(i));
    expect(await client.exists(stateKey(none, "l"))).toBe(0);
    expect((await store.read(line(none, [limit(lifetime, 1000n)]), at(9))).state.committed).toEqual([5n * U]);
  });

  it("keeps every total exact past 2^53 units, and decides a three-limit call in one script call", async () => {
    let calls = 0;
    const counting: ScriptClient = {
      evalSha: (sha1, keys, args) => {
        calls++;
        return client.evalsha(sha1, keys.length, ...keys, ...args);
      },
      evalSource: (source, keys, args) => {
        calls++;
        return client.eval(source, keys.length, ...keys, ...args);
      },
    };
    const counted = new RedisStore(counting, { prefix });
    const l = ledger();
    const limits = [
      limit(rolling(60), 10n ** 20n),
      limit(rolling(86_400), 10n ** 20n),
      limit(calendar("c:m", [0, 1e9]), 10n ** 20n),
    ];
    await counted.read(line(l, limits), at(1)); // claims the layout: one call more, once
    calls = 0;
    const amount = 123_456_789_012_345_678_901_234_567n;
    for (let i = 0; i < 3; i++) await counted.charge([line(l, limits)], amount, at(10 + i));
    expect(calls).toBe(3);
    expect((await counted.read(line(l, limits), at(20))).state.committed).toEqual([
      3n * amount,
      3n * amount,
      3n * amount,
    ]);
  });

  it("sends each distinct limits text once per call, and decides each operation of the call by its own", async () => {
    const sent: string[][] = [];
    const recording: ScriptClient = {
      evalSha: (sha1, keys, args) => {
        sent.push([...args]);
        return client.evalsha(sha1, keys.length, ...keys, ...args);
      },
      evalSource: (source, keys, args) => {
        sent.push([...args]);
        return client.eval(source, keys.length, ...keys, ...args);
      },
    };
    const recorded = new RedisStore(recording, { prefix });
    const small = [limit(rolling(60), 2n)];
    const large = [limit(rolling(60), 10n ** 20n), limit(calendar("c:m", [0, 1e9]), 10n ** 20n)];
    const [a, b, c] = [ledger(), ledger(), ledger()];
    await recorded.read(line(a, small), at(1)); // claims the layout first
    sent.length = 0;
    const amount = 10n ** 24n; // answered as "u" and digits, past one limb
    // One tick: the calls go out together, in one script call or two.
    const calls = [
      recorded.charge([line(a, small)], U, at(10)),
      recorded.charge([line(b, large)], amount, at(10)),
      recorded.charge([line(a, small)], U, at(10)),
      recorded.charge([line(c, small), line(b, large)], amount, at(10)),
      recorded.charge([line(a, small)], U, at(10)),
    ];
    const verdicts = await Promise.all(calls);
    expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false, false]);
    expect(verdicts[3]?.lines.map((s) => s.committed)).toEqual([[0n], [amount, amount]]);
    expect(verdicts[4]?.lines[0]?.committed).toEqual([2n * U]);
    // Each text at most once per call, however many of its operations name it (the small one, four).
    const counts = (head: string) => sent.map((args) => args.filter((x) => x.startsWith(head)).length);
    expect(sent.length).toBeLessThanOrEqual(2);
    expect(Math.max(...counts("1\0r\0r:60\0"))).toBe(1);
    expect(Math.max(...counts("2\0r\0r:60\0"))).toBe(1);
    expect((await recorded.read(line(b, large), at(20))).state.committed).toEqual([amount, amount]);
  });
});
