/**
 * A ledger's running totals, one per window id a call has named: rolling (a sum and the log
 * position where the window starts), calendar (a period and its sum), lifetime (a sum). A ledger
 * keeps them in a linked list through `next`: most ledgers have one or two, and a list costs one
 * field per total where a Map or an array would cost an object.
 */
import { sumUnits } from "../../amount.js";
import type { SpendLog } from "./spend-log.js";

/** What every kind of total has. */
export abstract class Total {
  /** The next total of the same ledger, or null. */
  next: Total | null = null;

  constructor(
    /** The window's id, as `StoreWindow.id`. */
    readonly id: string,
    /** Committed spend counted by this total. */
    public sum: bigint,
  ) {}

  /**
   * Brings the total to `t` and gives the first log position it still reads: none but a rolling
   * total's reads the log. (Asked of each total rather than by `instanceof`: when a build
   * redefines class names, as tsx does, `instanceof` costs about 10 ns more on the hot path.)
   */
  advance(_log: SpendLog, _t: number): number {
    return Number.POSITIVE_INFINITY;
  }

  /** True if spends must be logged for this total (a rolling window drops them as they leave it). */
  get logs(): boolean {
    return false;
  }

  /** Adds a spend recorded at `t` to the total, if the total counts it (rolling and lifetime totals count every new spend). */
  add(amount: bigint, _t: number): void {
    // 0n + amount would allocate a copy: share the log's bigint instead.
    this.sum = sumUnits(this.sum, amount);
  }

  /** Committed spend at `t` (after `advance`), as `scan` lists it. */
  at(_t: number): bigint {
    return this.sum;
  }

  /** True while dropping the ledger would lose spend this total still counts at `t`. */
  counts(_t: number): boolean {
    return this.sum !== 0n;
  }
}

/** A rolling window: the sum of the log from `pos` on, `pos` being the first spend at `t − seconds` or later. */
export class RollingTotal extends Total {
  constructor(
    id: string,
    readonly seconds: number,
    /** Position in the log of the oldest spend still in the window. */
    public pos: number,
    sum: bigint,
  ) {
    super(id, sum);
  }

  /** Seeds a rolling total from the spends the log holds that are in the window at `t`. */
  static seeded(id: string, seconds: number, log: SpendLog, t: number): RollingTotal {
    const pos = log.firstAtOrAfter(t - seconds);
    return new RollingTotal(id, seconds, pos, log.sumFrom(pos));
  }

  /** Moves the window's start to `t − seconds`, subtracting what left it: amortised O(1). */
  override advance(log: SpendLog, t: number): number {
    const horizon = t - this.seconds;
    const end = log.end;
    let pos = this.pos;
    if (pos === end || log.timeAt(pos) >= horizon) return pos;
    let sum = this.sum;
    do {
      sum -= log.amountAt(pos);
      pos++;
    } while (pos < end && log.timeAt(pos) < horizon);
    this.pos = pos;
    this.sum = sum;
    return pos;
  }

  override get logs(): boolean {
    return true;
  }
}

/** A calendar window: the spends of the period `[start, end)`. */
export class CalendarTotal extends Total {
  constructor(
    id: string,
    public start: number,
    public end: number,
    sum: bigint,
  ) {
    super(id, sum);
  }

  /** Starts the period `[start, end)` from the spends the log holds in it (all are before `end`). */
  restart(log: SpendLog, start: number, end: number): void {
    this.start = start;
    this.end = end;
    this.sum = log.sumFrom(log.firstAtOrAfter(start));
  }

  override add(amount: bigint, t: number): void {
    // A period that has ended keeps its sum until it is named again (and restarts) or the ledger goes.
    if (t >= this.start && t < this.end) super.add(amount, t);
  }

  override at(t: number): bigint {
    return t >= this.start && t < this.end ? this.sum : 0n;
  }

  override counts(t: number): boolean {
    return this.sum !== 0n && t < this.end;
  }
}

/** A lifetime window: every spend since the total was made (and those the log held then). */
export class LifetimeTotal extends Total {}
