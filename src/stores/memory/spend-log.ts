/**
 * A ledger's log of spends `(t, amount)` in time order, addressed by absolute position: the n-th
 * spend ever logged is at position n, whatever was dropped since, so a rolling total remembers
 * where its window starts as a plain number that stays true while the log grows and shrinks.
 *
 * The newest spend is kept in two fields of the log itself and only the older ones in a ring: a
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
    return (this.#older as OlderSpends).timeAt(p);
  }

  /** Amount of the spend at position `p`, `head ≤ p < end`. */
  amountAt(p: number): bigint {
    if (p === this.#end - 1) return this.#last;
    return (this.#older as OlderSpends).amountAt(p);
  }

  /** Appends a spend; `t` is at least `newest` and `amount` is not 0. */
  append(t: number, amount: bigint): void {
    if (this.#last !== 0n) {
      const older = this.#older;
      if (older === null) this.#older = new OlderSpends(this.#end - 1, this.newest, this.#last);
      else older.push(this.newest, this.#last);
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
    if (dead >= older.count) this.#older = null;
    else older.drop(dead);
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

/**
 * The older spends of a log: a ring buffer over two parallel arrays (a time is a bare double, an
 * amount a reference), its capacity a power of two so that wrapping is a mask. Dropping from the
 * oldest end moves an index; the ring halves once it is three-quarters empty.
 */
class OlderSpends {
  #times: number[];
  #amounts: bigint[];
  #mask: number;
  /** Ring index of position `base`. */
  #first = 0;
  /** Number of spends held. */
  count = 1;

  constructor(
    /** Position of the oldest spend held. */
    public base: number,
    time: number,
    amount: bigint,
  ) {
    this.#times = doubles(4);
    this.#amounts = new Array<bigint>(4);
    this.#mask = 3;
    this.#times[0] = time;
    this.#amounts[0] = amount;
  }

  timeAt(p: number): number {
    return this.#times[(this.#first + p - this.base) & this.#mask] as number;
  }

  amountAt(p: number): bigint {
    return this.#amounts[(this.#first + p - this.base) & this.#mask] as bigint;
  }

  push(time: number, amount: bigint): void {
    if (this.count > this.#mask) this.#resize((this.#mask + 1) * 2);
    const at = (this.#first + this.count) & this.#mask;
    this.#times[at] = time;
    this.#amounts[at] = amount;
    this.count++;
  }

  /** Drops the `n` oldest spends (fewer than `count`): amortised O(1), each spend is dropped once. */
  drop(n: number): void {
    const amounts = this.#amounts;
    const mask = this.#mask;
    for (let i = 0; i < n; i++) amounts[(this.#first + i) & mask] = 0n; // let the bigints be collected
    this.#first = (this.#first + n) & mask;
    this.base += n;
    this.count -= n;
    if (mask >= 64 && this.count <= mask >> 2) this.#resize((mask + 1) >> 1);
  }

  #resize(capacity: number): void {
    // Preallocated, and only the live part written: the rest is never read before it is written.
    // (Growing by appending instead costs far more per element once arrays are large.)
    const times = doubles(capacity);
    const amounts: bigint[] = new Array<bigint>(capacity);
    const count = this.count;
    for (let i = 0; i < count; i++) {
      const from = (this.#first + i) & this.#mask;
      times[i] = this.#times[from] as number;
      amounts[i] = this.#amounts[from] as bigint;
    }
    this.#times = times;
    this.#amounts = amounts;
    this.#mask = capacity - 1;
    this.#first = 0;
  }
}

/**
 * An array of `n` slots that holds doubles. Every ring is made this way, so that all have one
 * elements kind and the code that reads them stays monomorphic; the first write of a fraction
 * makes it an array of doubles whatever the times are (times that happen to be whole seconds
 * would otherwise make it one of small integers, which code optimised for doubles bails out of).
 */
function doubles(n: number): number[] {
  const array = new Array<number>(n);
  array[0] = 0.5;
  return array;
}
