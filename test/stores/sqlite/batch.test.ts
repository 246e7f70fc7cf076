/**
 * SqliteStore's batches, on every driver: the calls started in one tick share one transaction
 * (one disk sync), yet each is decided in order on what the ones before it left, gets its own
 * answer, and fails alone, its savepoint rolled back.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger } from "budgetgate";
import { SqliteStore } from "budgetgate/sqlite";
import type { StoreCall, StoreLine, StoreVerdict, StoreWindow } from "budgetgate/store";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, type SqliteDatabase } from "../../../src/stores/sqlite/driver.js";
import { expectDecidedInOrder, expectFailuresAlone } from "../../support/batch-outcomes.js";
import { sqliteDrivers } from "./support/drivers.js";

const dir = mkdtempSync(join(tmpdir(), "budgetgate-sqlite-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const U = 10n ** 18n;
const call = (): StoreCall => ({
  now: undefined,
  timeoutMs: 10_000,
  deadline: Date.now() + 10_000,
  signal: new AbortController().signal,
});
const ledger = () => new Ledger(`b${randomUUID().slice(0, 8)}`, "model", "hot");
const rolling: StoreWindow = { kind: "rolling", id: "r:3600", seconds: 3600 };
const line = (l: Ledger, max: bigint, window: StoreWindow = rolling): StoreLine => ({
  ledger: l,
  key: l.toString(),
  limits: [{ window, maxSpend: max * U, enforce: true }],
});

/** A connection that counts the transactions the store opens on it. */
function counted(db: SqliteDatabase): { db: SqliteDatabase; transactions: () => number; reset: () => void } {
  let transactions = 0;
  const wrapped = new Proxy(db, {
    get(target, property) {
      if (property === "transaction") {
        return (fn: (work: () => unknown) => unknown) => {
          const tx = target.transaction(fn);
          return {
            immediate(work: () => unknown) {
              transactions++;
              return tx.immediate(work);
            },
          };
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    db: wrapped,
    transactions: () => transactions,
    reset: () => {
      transactions = 0;
    },
  };
}

for (const driver of sqliteDrivers) {
  describe(`SqliteStore batches on ${driver}`, () => {
    function fresh() {
      const path = join(dir, `${randomUUID()}.db`);
      const raw = openDatabase(path, driver);
      const tally = counted(raw);
      const store = new SqliteStore(tally.db);
      tally.reset(); // the schema's own
      return { store, raw, ...tally };
    }

    it("decides 100 callers on one ledger in the order they came, in two transactions of 64 and 36", async () => {
      const { store, raw, transactions } = fresh();
      const l = ledger();
      const max = 150n;
      // Amounts of 1 to 5 U, 300 U asked of 150: about half must be blocked, some after larger ones were.
      const amounts = Array.from({ length: 100 }, (_, i) => BigInt((i * 7) % 5) * U + U);
      const verdicts = await Promise.all(amounts.map((amount) => store.charge([line(l, max)], amount, call())));
      expect(transactions()).toBe(2);
      const total = expectDecidedInOrder(amounts, verdicts, max * U);
      expect((await store.read(line(l, max), call())).state.committed).toEqual([total]);
      expect(raw.prepare("SELECT count(*) FROM budgetgate_spends").pluck().get()).toBe(
        verdicts.filter((v) => v.allowed).length,
      );
      raw.close();
    });

    it("fails a call in the middle of a batch alone, with its own typed error, writing nothing of it", async () => {
      const { store, raw, transactions, reset } = fresh();
      const hot = ledger();
      const taken = { id: randomUUID(), ttl: 60, retain: 60 };
      await store.reserve([line(hot, 100n)], U, taken, call());
      reset();
      const outcomes = await Promise.allSettled([
        store.charge([line(hot, 100n)], 2n * U, call()),
        // A hold id already taken, on a ledger not yet there: its row is made, then the insert fails.
        store.reserve([line(ledger(), 100n)], U, taken, call()),
        store.charge([line(hot, 100n)], 3n * U, call()),
        store.charge([line(hot, 100n)], 4n * U, call()),
        // A calendar window whose periods do not hold the time.
        store.charge([line(ledger(), 100n, { kind: "calendar", id: "c:old", boundaries: [0, 1] })], U, call()),
        store.charge([line(hot, 100n)], 5n * U, call()),
      ]);
      expect(transactions()).toBe(1);
      expectFailuresAlone(outcomes);
      expect((await store.read(line(hot, 100n), call())).state).toMatchObject({ committed: [14n * U], reserved: U });
      // Only the hot ledger and its hold: the failed reserve's new ledger row went with its savepoint.
      expect(raw.prepare("SELECT count(*) FROM budgetgate_ledgers").pluck().get()).toBe(1);
      expect(raw.prepare("SELECT count(*) FROM budgetgate_holds").pluck().get()).toBe(1);
      raw.close();
    });

    it("answers synchronously, a transaction per call, with batch: false", () => {
      const store = new SqliteStore(":memory:", { driver, batch: false });
      const l = ledger();
      const first = store.charge([line(l, 3n)], 2n * U, call());
      const second = store.charge([line(l, 3n)], 2n * U, call());
      expect(first).not.toBeInstanceOf(Promise);
      expect((first as StoreVerdict).allowed).toBe(true);
      expect((second as StoreVerdict).allowed).toBe(false);
      expect((second as StoreVerdict).lines[0]?.committed).toEqual([2n * U]);
    });
  });
}
