import { currentPeriod, type StoreLedgerState, type StoreLimit, type StoreWindow } from "budgetgate/store";
import { type StoredKey, storedKey } from "./keys.js";
import type { LedgerRow, SpendRow, Statements, TotalRow } from "./statements.js";

/**
 * Log rows that stopped counting are deleted once at least this many have piled up on a ledger, so
 * that most calls run no DELETE at all; each delete then removes a batch in one range.
 */
const DELETE_AFTER = 32;

type Kind = StoreWindow["kind"];

/** A position in a ledger's prefix sums: what the ledger's `total` was just after spend `seq`. */
interface Mark {
  readonly seq: number;
  readonly cum: bigint;
}

/**
 * One running total: it counts `ledger.total − base`, every spend after seq `pos`. Kept as an
 * offset into the ledger's prefix sums, so that a spend recorded on the ledger counts in every
 * total at once.
 */
class Total {
  readonly id: string;
  readonly kind: Kind;
  readonly seconds: number | null;
  start: number | null;
  end: number | null;
  base: bigint;
  pos: number;
  /** "kept": as stored; "put": to be written; "drop": to be deleted. */
  change: "kept" | "put" | "drop";

  constructor(row: {
    id: string;
    kind: Kind;
    seconds: number | null;
    start: number | null;
    end: number | null;
    base: bigint;
    pos: number;
    change: "kept" | "put";
  }) {
    this.id = row.id;
    this.kind = row.kind;
    this.seconds = row.seconds;
    this.start = row.start;
    this.end = row.end;
    this.base = row.base;
    this.pos = row.pos;
    this.change = row.change;
  }

  /** Stops counting what `mark` holds, if that is more than it already left out. */
  advance(mark: Mark | undefined): void {
    if (mark !== undefined && mark.seq > this.pos) {
      this.base = mark.cum;
      this.pos = mark.seq;
      if (this.change === "kept") this.change = "put";
    }
  }
}

function kindOf(text: string): Kind {
  if (text === "rolling" || text === "calendar" || text === "lifetime") return text;
  // Read as a StateError by the store: a row written by something else.
  throw new SyntaxError(`unknown window kind ${JSON.stringify(text)}`);
}

/**
 * One ledger's state, loaded inside a write transaction, brought to the call's time by
 * {@link Account.open}, and saved before the transaction commits.
 */
export class Account {
  readonly id: number;
  readonly key: StoredKey;
  /** Sum of every spend ever recorded: the prefix sum after spend `seq`. */
  total: bigint;
  reserved: bigint;
  /** Time of the newest spend; a new spend is never dated before it. */
  newest: number | null;
  /** Number of spends ever recorded on the ledger: the seq of the newest. */
  seq: number;
  /** The part of `total` the log no longer holds: spends up to `floorSeq`, the last at `floorT`. */
  floor: bigint;
  floorSeq: number;
  floorT: number | null;
  /** No spend row at or below this seq is stored. */
  gone: number;
  heldUntil: number | null;
  sweepAt: number | null;
  /** The ledger's time for this call: the store's time, or its newest spend's if that is later. */
  time = Number.NEGATIVE_INFINITY;
  readonly totals: Map<string, Total>;
  #dirty = false;

  private constructor(row: LedgerRow, totals: readonly TotalRow[]) {
    this.id = row.id;
    this.key = row.key;
    this.total = BigInt(row.total);
    this.reserved = BigInt(row.reserved);
    this.newest = row.newest;
    this.seq = row.seq;
    this.floor = BigInt(row.floor);
    this.floorSeq = row.floor_seq;
    this.floorT = row.floor_t;
    this.gone = row.gone;
    this.heldUntil = row.held_until;
    this.sweepAt = row.sweep_at;
    this.totals = new Map();
    for (const total of totals) {
      this.totals.set(
        total.window_id,
        new Total({
          id: total.window_id,
          kind: kindOf(total.kind),
          seconds: total.seconds,
          start: total.period_start,
          end: total.period_end,
          base: BigInt(total.base),
          pos: total.pos,
          change: "kept",
        }),
      );
    }
  }

  /** The ledger's account, or undefined when it has none and `create` is false. */
  static load(sql: Statements, key: string, create: true): Account;
  static load(sql: Statements, key: string, create: boolean): Account | undefined;
  static load(sql: Statements, key: string, create: boolean): Account | undefined {
    const stored = storedKey(key);
    const row = sql.ledgerByKey.get(stored);
    if (row !== undefined) return Account.from(sql, row);
    if (!create) return undefined;
    const id = sql.insertLedger.get(stored) as number;
    return new Account(
      {
        id,
        key: stored,
        total: "0",
        reserved: "0",
        newest: null,
        seq: 0,
        floor: "0",
        floor_seq: 0,
        floor_t: null,
        gone: 0,
        held_until: null,
        sweep_at: null,
      },
      [],
    );
  }

  /** The account of a ledger row just read, with its totals. */
  static from(sql: Statements, row: LedgerRow): Account {
    return new Account(row, sql.totalsOf.all(row.id));
  }

  /** The longest rolling window the ledger keeps a total for: how long its log keeps spends. */
  get longest(): number | null {
    let longest: number | null = null;
    for (const total of this.totals.values()) {
      if (
        total.kind === "rolling" &&
        total.change !== "drop" &&
        (longest === null || (total.seconds as number) > longest)
      ) {
        longest = total.seconds;
      }
    }
    return longest;
  }

  /**
   * Brings the ledger to the store's time `now` (its own time is `max(now, newest)`): what left the
   * log and the rolling windows stops counting, a calendar total whose period ended is dropped or,
   * if `limits` names it, restarted from the log; totals `limits` names for the first time are
   * created from the log. Changes nothing in the database (see {@link save}).
   *
   * @throws {PeriodRangeError} if a calendar window's boundaries do not hold the ledger's time.
   */
  open(sql: Statements, now: number, limits: readonly StoreLimit[] = []): void {
    this.time = this.newest !== null && this.newest > now ? this.newest : now;
    const longest = this.longest;
    // The log's floor first: it bounds what every total created below can be seeded with.
    if (longest === null) {
      if (this.floorSeq < this.seq) this.#setFloor({ seq: this.seq, cum: this.total }, this.newest);
    } else if (this.floorSeq < this.seq) {
      const row = sql.spendBefore.get(this.id, this.time - longest);
      if (row !== undefined && row.seq > this.floorSeq) this.#setFloor(mark(row), row.t);
    }
    const floor: Mark = { seq: this.floorSeq, cum: this.floor };
    for (const total of this.totals.values()) {
      if (total.kind === "rolling" && total.pos < this.seq) {
        total.advance(floor);
        // The longest window starts where the log's floor was just put.
        if (total.seconds !== longest) total.advance(this.#before(sql, this.time - (total.seconds as number)));
      }
      // A total that counts nothing is dropped at once, whoever touches the ledger and whenever: made
      // again from the log when named, it answers what it would have, and the sweep that forgets an
      // idle ledger then changes no answer, however late it comes.
      if (!this.#counts(total)) total.change = "drop";
    }
    for (const limit of limits) {
      const window = limit.window;
      const known = this.totals.get(window.id);
      if (window.kind === "calendar") {
        const period = currentPeriod(window, this.time);
        if (
          known !== undefined &&
          known.change !== "drop" &&
          known.start === period.start &&
          known.end === period.end
        ) {
          continue;
        }
        this.totals.set(window.id, this.#seed(sql, window, period.start, period.end, floor));
      } else if (known === undefined || known.change === "drop") {
        this.totals.set(window.id, this.#seed(sql, window, null, null, floor));
      }
    }
  }

  /** A new total of `window`, counting the spends the log holds that fall in it. */
  #seed(sql: Statements, window: StoreWindow, start: number | null, end: number | null, floor: Mark): Total {
    const from = window.kind === "rolling" ? this.time - window.seconds : window.kind === "calendar" ? start : null;
    const total = new Total({
      id: window.id,
      kind: window.kind,
      seconds: window.kind === "rolling" ? window.seconds : null,
      start,
      end,
      base: floor.cum,
      pos: floor.seq,
      change: "put",
    });
    if (from !== null && this.floorSeq < this.seq) total.advance(this.#before(sql, from));
    return total;
  }

  /** The newest stored spend dated before `instant`. */
  #before(sql: Statements, instant: number): Mark | undefined {
    const row = sql.spendBefore.get(this.id, instant);
    return row === undefined ? undefined : mark(row);
  }

  #setFloor(floor: Mark, t: number | null): void {
    this.floor = floor.cum;
    this.floorSeq = floor.seq;
    this.floorT = t;
    this.#dirty = true;
  }

  /** Committed spend per limit, in the order of `limits` (all of which {@link open} was given). */
  committed(limits: readonly StoreLimit[]): bigint[] {
    return limits.map((limit) => this.total - (this.totals.get(limit.window.id) as Total).base);
  }

  /** The state a store answers for this ledger under `limits`. */
  state(limits: readonly StoreLimit[]): StoreLedgerState {
    return { committed: this.committed(limits), reserved: this.reserved, newest: this.newest };
  }

  /**
   * Records a spend of `amount` at the ledger's time, counting in every total it keeps. The log
   * keeps the spend only if the ledger has a rolling window to count it in.
   */
  record(sql: Statements, amount: bigint): void {
    if (amount === 0n) return;
    this.seq += 1;
    this.total += amount;
    this.newest = this.time;
    if (this.longest !== null) {
      sql.insertSpend.run(this.id, this.time, this.seq, this.total.toString());
    } else {
      if (this.gone === this.seq - 1) this.gone = this.seq;
      this.#setFloor({ seq: this.seq, cum: this.total }, this.time);
    }
    this.#dirty = true;
  }

  /** Adds `amount` (possibly negative) to the active holds; a new hold expires at `expiresAt`. */
  hold(amount: bigint, expiresAt?: number): void {
    if (expiresAt !== undefined && (this.heldUntil === null || expiresAt > this.heldUntil)) {
      this.heldUntil = expiresAt;
      this.#dirty = true;
    }
    if (amount === 0n) return;
    this.reserved += amount;
    this.#dirty = true;
  }

  /**
   * Deletes up to `batch` log rows below the floor, oldest first, once `threshold` of them may be
   * waiting. Rows left over are deleted by later calls; they no longer count.
   */
  prune(sql: Statements, batch: number, threshold = DELETE_AFTER): void {
    // An upper bound: spends the log never held count too, which only makes a delete come sooner.
    const waiting = this.floorSeq - this.gone;
    if (waiting <= 0 || waiting < threshold || this.floorT === null) return;
    const last = sql.nthOldestThrough.get(this.id, this.floorT, this.floorSeq, batch - 1);
    if (last === undefined) {
      sql.deleteThrough.run(this.id, this.floorT, this.floorSeq);
      this.gone = this.floorSeq;
    } else {
      sql.deleteThrough.run(this.id, last.t, last.seq);
      this.gone = last.seq;
    }
    this.#dirty = true;
  }

  /**
   * True when forgetting the ledger changes no answer, at its time (after {@link open}): its log
   * holds nothing, no hold counts, and no total counts anything (a calendar total whose period is
   * over counts nothing either). The memory store's rule, so that both forget the same ledgers.
   */
  idle(): boolean {
    if (this.reserved !== 0n || this.floorSeq !== this.seq) return false;
    for (const total of this.totals.values()) if (this.#counts(total)) return false;
    return true;
  }

  #counts(total: Total): boolean {
    if (total.change === "drop" || total.base === this.total) return false;
    return total.kind !== "calendar" || this.time < (total.end as number);
  }

  /**
   * When something of the ledger next stops counting: for a ledger whose lifetime total counts,
   * when its log rows have all left the log; for any other, when the whole ledger may go idle.
   */
  #nextSweep(): number | null {
    const longest = this.longest;
    const logEnd =
      this.seq > this.gone ? (longest !== null && this.newest !== null ? this.newest + longest : this.time) : null;
    let latest = this.floorSeq < this.seq ? logEnd : null;
    for (const total of this.totals.values()) {
      if (!this.#counts(total)) continue;
      if (total.kind === "lifetime") return logEnd;
      if (total.kind === "calendar") latest = Math.max(latest ?? Number.NEGATIVE_INFINITY, total.end as number);
    }
    if (this.reserved !== 0n && this.heldUntil !== null) {
      latest = Math.max(latest ?? Number.NEGATIVE_INFINITY, this.heldUntil);
    }
    return latest ?? Math.max(this.time, logEnd ?? Number.NEGATIVE_INFINITY);
  }

  /** Writes back what changed. */
  save(sql: Statements): void {
    for (const total of this.totals.values()) {
      if (total.change === "put") {
        sql.putTotal.run(
          this.id,
          total.id,
          total.kind,
          total.seconds,
          total.start,
          total.end,
          total.base.toString(),
          total.pos,
        );
        total.change = "kept";
      } else if (total.change === "drop") {
        sql.deleteTotal.run(this.id, total.id);
        this.totals.delete(total.id);
      }
    }
    const sweepAt = this.#nextSweep();
    if (sweepAt !== this.sweepAt) {
      this.sweepAt = sweepAt;
      this.#dirty = true;
    }
    if (!this.#dirty) return;
    sql.updateLedger.run(
      this.total.toString(),
      this.reserved.toString(),
      this.newest,
      this.seq,
      this.floor.toString(),
      this.floorSeq,
      this.floorT,
      this.gone,
      this.heldUntil,
      this.sweepAt,
      this.id,
    );
    this.#dirty = false;
  }
}

function mark(row: SpendRow): Mark {
  return { seq: row.seq, cum: BigInt(row.cum) };
}
