/**
 * A ledger's log of spends `(t, amount)` in time order, addressed by absolute position: the n-th
 * spend ever logged is at position n, whatever was dropped since, so a rolling total remembers
 * where its window starts as a plain number that stays true while the log grows and shrinks.
 *
 * The newest spend is kept in two fields of the log itself and only the older ones in arrays: a
 * ledger charged once and then left alone (most of them) costs no array at all. Times never
 * decrease (the store records at `max(now, newest)`), so the log can be searched by bisection and
 * trimmed from its oldest end.
 */
export class SpendLog {
  /** Time of the newest spend recorded, kept after it left the log; −∞ before the first. */
  newest = Number.NEGATIVE_INFINITY;
  /** Amount of the newest spend while the log holds it; 0n when the log is empty (0 is never logged). */
  #last = 0n;
  /** The spends before the newest, from position `base` on; null when there are none. */
  #older: OlderSpends | null = null;
  /** Position of the oldest spend held. */
  #head = 0;
  /** Position after the newest spend: the log holds `[head, end)`. */
  #end = 0;

  /** Position of the oldest spend held. */
  get head(): number {
    return this.#head;
  }

  /** Position after the newest spend held. */
  get end(): number {
    return this.#end;
  }

  /** Number of spends held. */
  get size(): number {
    return this.#end - this.#head;
  }

  /** Time of the spend at position `p`, `head ≤ p < end`. */
  timeAt(p: number): number {
    if (p === this.#end - 1) return this.newest;
    const older = this.#older as OlderSpends;
    return older.times[p - older.base] as number;
  }

  /** Amount of the spend at position `p`, `head ≤ p < end`. */
  amountAt(p: number): bigint {
    if (p === this.#end - 1) return this.#last;
    const older = this.#older as OlderSpends;
    return older.amounts[p - older.base] as bigint;
  }

  /** Appends a spend; `t` is at least `newest` and `amount` is not 0. */
  append(t: number, amount: bigint): void {
    if (this.#last !== 0n) {
      const older = this.#older;
      if (older === null) this.#older = new OlderSpends(this.#end - 1, this.newest, this.#last);
      else {
        older.times.push(this.newest);
        older.amounts.push(this.#last);
      }
    }
    this.newest = t;
    this.#last = amount;
    this.#end++;
  }

  /** Drops the spends before position `p` (`head ≤ p ≤ end`). */
  trimTo(p: number): void {
    if (p === this.#head) return;
    this.#head = p;
    if (p === this.#end) {
      this.#last = 0n;
      this.#older = null;
      return;
    }
    const older = this.#older;
    if (older === null) return;
    const dead = p - older.base;
    const length = older.times.length;
    if (dead >= length) this.#older = null;
    else if (dead >= 16 && dead * 2 >= length) older.drop(dead);
  }

  /** Drops every spend. */
  empty(): void {
    this.trimTo(this.#end);
  }

  /**
   * First position from `from` on whose spend is at `time` or later, or `end` if none: a
   * bisection, since times never decrease.
   */
  firstAtOrAfter(time: number, from = this.#head): number {
    let lo = from;
    let hi = this.#end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timeAt(mid) < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Sum of the spends from position `p` to the newest: the one-time cost of seeding a total. */
  sumFrom(p: number): bigint {
    let sum = 0n;
    for (let i = p; i < this.#end; i++) sum += this.amountAt(i);
    return sum;
  }
}

/** The older spends of a log, in two parallel arrays so that a time is a bare double. */
class OlderSpends {
  readonly times: number[];
  readonly amounts: bigint[];

  constructor(
    /** Position of `times[0]`. */
    public base: number,
    time: number,
    amount: bigint,
  ) {
    this.times = [time];
    this.amounts = [amount];
  }

  /** Drops the first `n` entries, in place: called once half of them are dead, so amortised O(1). */
  drop(n: number): void {
    const length = this.times.length - n;
    this.times.copyWithin(0, n);
    this.times.length = length;
    this.amounts.copyWithin(0, n);
    this.amounts.length = length;
    this.base += n;
  }
}
