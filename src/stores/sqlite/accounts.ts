import { storedKey } from "./keys.js";
import type { Statements } from "./statements.js";

/**
 * Expired spends are deleted once at least this many have piled up on a ledger, so that most calls
 * run no DELETE at all; each delete then removes a batch in one range.
 */
const DELETE_AFTER = 32;

/**
 * One ledger's running totals, loaded inside a write transaction and saved before it commits.
 * Committed spend in the window is `total − expired`: `expired` moves to the running total of the
 * newest spend older than the window, found by one index seek, so no call ever sums the window.
 */
export class Account {
  readonly id: number;
  total: bigint;
  expired: bigint;
  reserved: bigint;
  /** Time of the newest spend; a new spend is never recorded before it (see {@link record}). */
  lastT: number | null;
  /** Number of spends ever recorded on the ledger: the seq of the newest. */
  seq: number;
  /** Highest seq deleted; spends gone+1 … seq are still stored. */
  gone: number;
  #dirty: boolean;

  private constructor(
    id: number,
    total: bigint,
    expired: bigint,
    reserved: bigint,
    lastT: number | null,
    seq: number,
    gone: number,
    dirty: boolean,
  ) {
    this.id = id;
    this.total = total;
    this.expired = expired;
    this.reserved = reserved;
    this.lastT = lastT;
    this.seq = seq;
    this.gone = gone;
    this.#dirty = dirty;
  }

  /** The ledger's account, or undefined when it has none and `create` is false. */
  static load(sql: Statements, key: string, create: true): Account;
  static load(sql: Statements, key: string, create: boolean): Account | undefined;
  static load(sql: Statements, key: string, create: boolean): Account | undefined {
    const stored = storedKey(key);
    const row = sql.ledgerByKey.get(stored);
    if (row !== undefined) {
      return new Account(
        row.id,
        BigInt(row.total),
        BigInt(row.expired),
        BigInt(row.reserved),
        row.last_t,
        row.seq,
        row.gone,
        false,
      );
    }
    if (!create) return undefined;
    const id = sql.insertLedger.get(stored) as number;
    return new Account(id, 0n, 0n, 0n, null, 0, 0, false);
  }

  /** Committed spend in the window plus active holds. */
  get spent(): bigint {
    return this.total - this.expired + this.reserved;
  }

  /**
   * Drops spends recorded before `now − window` from the total, then deletes up to `batch` of
   * their rows, oldest first. Rows left over are deleted by later calls; they no longer count.
   */
  prune(sql: Statements, now: number, window: number | null, batch: number): void {
    if (window === null || this.seq === this.gone) return;
    const newest = sql.newestExpired.get(this.id, now - window);
    if (newest === undefined) return;
    const cum = BigInt(newest.cum);
    // A shorter window used earlier may already have expired more; what expired stays expired.
    if (cum > this.expired) {
      this.expired = cum;
      this.#dirty = true;
    }
    const waiting = newest.seq - this.gone;
    if (waiting < DELETE_AFTER) return;
    const last = waiting <= batch ? newest : sql.nthOldest.get(this.id, batch - 1);
    if (last === undefined) return;
    this.gone += sql.deleteThrough.run(this.id, last.t, last.seq).changes;
    this.#dirty = true;
  }

  /**
   * Records a spend of `amount` at `now`, or at the ledger's newest spend time if the clock went
   * back: spends must stay in time order for the running totals to be exact, and a spend dated a
   * little late only counts a little longer.
   */
  record(sql: Statements, now: number, amount: bigint): void {
    if (amount === 0n) return;
    const t = this.lastT !== null && this.lastT > now ? this.lastT : now;
    this.seq += 1;
    this.total += amount;
    this.lastT = t;
    sql.insertSpend.run(this.id, t, this.seq, this.total.toString());
    this.#dirty = true;
  }

  /** Adds `amount` (possibly negative) to the active holds. */
  hold(amount: bigint): void {
    if (amount === 0n) return;
    this.reserved += amount;
    this.#dirty = true;
  }

  /** Writes the totals back if they changed. */
  save(sql: Statements): void {
    if (!this.#dirty) return;
    sql.updateLedger.run(
      this.total.toString(),
      this.expired.toString(),
      this.reserved.toString(),
      this.lastT,
      this.seq,
      this.gone,
      this.id,
    );
    this.#dirty = false;
  }
}
