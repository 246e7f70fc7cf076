/**
 * PostgresStore's scan, on hand-made lines: the prefix is an exact bytewise key range (keys with
 * %, _, \, NUL and surrogates, a prefix ending in a high surrogate that keys pair), pages of one
 * list each ledger once, and totals that count nothing are left out.
 */
import { randomUUID } from "node:crypto";
import { Ledger } from "budgetgate";
import type { StoreCall, StoreLine } from "budgetgate/store";
import { describe, expect, it } from "vitest";
import { findService } from "../../support/services.js";
import { suiteStore } from "./support/setup.js";

const service = await findService("DATABASE_URL");
const call = (now: number): StoreCall => ({
  now,
  timeoutMs: 5000,
  deadline: Date.now() + 5000,
  signal: new AbortController().signal,
});
const line = (ledger: Ledger): StoreLine => ({
  ledger,
  key: ledger.toString(),
  limits: [{ window: { kind: "rolling", id: "r:60", seconds: 60 }, maxSpend: 10n ** 20n, enforce: true }],
});

describe.skipIf(!service.ok)("PostgresStore scan", () => {
  const suite = suiteStore(service.url, "scan");

  async function all(prefix: string, now: number): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await suite.store.scan({ prefix, cursor, limit: 1 }, call(now));
      keys.push(...page.entries.map((e) => e.ledger.toString()));
      cursor = page.cursor;
    } while (cursor !== null);
    return keys;
  }

  it("lists exactly the keys of a prefix, each once, whatever characters they hold", async () => {
    const ns = `s${randomUUID().replaceAll("-", "").slice(0, 8)}`;
    const principals = ["a%", "a_", "a\\", "a\\0", "a\u0000", "ab", "a\uD83D\uDE00", "a\uD83D", "a\uDBFF\uDFFF", "b"];
    for (const p of principals) await suite.store.charge([line(new Ledger(ns, "m", p))], 1n, call(1000));
    const listed = await all(`${ns}:m@`, 1000);
    expect(listed.sort()).toEqual(principals.map((p) => new Ledger(ns, "m", p).toString()).sort());
    expect(await all(`${ns}:m@a%`, 1000)).toEqual([`${ns}:m@a%`]);
    expect(await all(`${ns}:m@a_`, 1000)).toEqual([`${ns}:m@a_`]);
    expect((await all(`${ns}:m@a\\`, 1000)).sort()).toEqual([`${ns}:m@a\\`, `${ns}:m@a\\0`].sort());
    expect((await all(`${ns}:m@a\uD83D`, 1000)).sort()).toEqual([`${ns}:m@a\uD83D`, `${ns}:m@a\uD83D\uDE00`].sort());
    expect(await all(`${ns}:m@a\uDBFF\uDFFF`, 1000)).toEqual([`${ns}:m@a\uDBFF\uDFFF`]);
    expect(await all(`${ns}:m@c`, 1000)).toEqual([]);
  });

  it("leaves out totals that count nothing at the page's time", async () => {
    const ledger = new Ledger(`s${randomUUID().replaceAll("-", "").slice(0, 8)}`, "m");
    await suite.store.charge([line(ledger)], 5n, call(1000));
    const at = async (now: number) =>
      (await suite.store.scan({ prefix: ledger.toString(), cursor: null, limit: 10 }, call(now))).entries;
    expect((await at(1030))[0]?.windows).toEqual([{ id: "r:60", committed: 5n }]);
    expect((await at(1061))[0]?.windows).toEqual([]);
  });
});
