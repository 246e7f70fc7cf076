import { TimeHeap } from "./time-heap.js";

/**
 * Entries ordered by time, oldest out first. Entries almost always arrive in time order, so they
 * go to a ring buffer where appending and taking the oldest are O(1) and touch adjacent memory;
 * the rare entry older than the newest (a clock set back, a commit stamped earlier by another
 * process) goes to a min-heap instead, and the oldest of the two fronts leaves first.
 */
export class TimeQueue<V> {
  #times = new Float64Array(16);
  #values: (V | undefined)[] = new Array(16);
  #head = 0;
  #length = 0;
  readonly #stragglers = new TimeHeap<V>();

  /** Number of entries. */
  get size(): number {
    return this.#length + this.#stragglers.size;
  }

  /** Time of the oldest entry, or +Infinity when empty. */
  peekTime(): number {
    const ring = this.#length === 0 ? Number.POSITIVE_INFINITY : (this.#times[this.#head] as number);
    return Math.min(ring, this.#stragglers.peekTime());
  }

  push(time: number, value: V): void {
    const capacity = this.#times.length;
    if (this.#length > 0) {
      const newest = this.#times[(this.#head + this.#length - 1) & (capacity - 1)] as number;
      if (time < newest) {
        this.#stragglers.push(time, value);
        return;
      }
    }
    if (this.#length === capacity) this.#resize(capacity * 2);
    const at = (this.#head + this.#length) & (this.#times.length - 1);
    this.#times[at] = time;
    this.#values[at] = value;
    this.#length++;
  }

  /** Removes and returns the oldest entry's value. Call only when not empty. */
  pop(): V {
    const ringTime = this.#length === 0 ? Number.POSITIVE_INFINITY : (this.#times[this.#head] as number);
    if (this.#stragglers.peekTime() < ringTime) return this.#stragglers.pop();
    const value = this.#values[this.#head] as V;
    this.#values[this.#head] = undefined; // let the value be collected
    this.#head = (this.#head + 1) & (this.#times.length - 1);
    this.#length--;
    const capacity = this.#times.length;
    if (capacity > 64 && this.#length < capacity >> 2) this.#resize(capacity >> 1);
    return value;
  }

  /** Capacity is kept a power of two so that wrapping is a mask. */
  #resize(capacity: number): void {
    const times = new Float64Array(capacity);
    const values: (V | undefined)[] = new Array(capacity);
    const mask = this.#times.length - 1;
    for (let i = 0; i < this.#length; i++) {
      const from = (this.#head + i) & mask;
      times[i] = this.#times[from] as number;
      values[i] = this.#values[from];
    }
    this.#times = times;
    this.#values = values;
    this.#head = 0;
  }
}
