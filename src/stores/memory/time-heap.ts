/**
 * A binary min-heap of values ordered by a timestamp, in parallel arrays so that a live entry costs
 * one float and one reference. Pushing in time order — the usual case — never sifts, so appending
 * is O(1); popping the oldest is O(log n). Out-of-order times (a late commit, a clock set back)
 * are still handled.
 */
export class TimeHeap<V> {
  #times = new Float64Array(16);
  #values: V[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#values.length;
  }

  /** Time of the oldest entry, or +Infinity when empty. */
  peekTime(): number {
    return this.#values.length === 0 ? Number.POSITIVE_INFINITY : (this.#times[0] as number);
  }

  push(time: number, value: V): void {
    let i = this.#values.length;
    if (i === this.#times.length) {
      const grown = new Float64Array(i * 2);
      grown.set(this.#times);
      this.#times = grown;
    }
    const times = this.#times;
    const values = this.#values;
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((times[parent] as number) <= time) break;
      times[i] = times[parent] as number;
      values[i] = values[parent] as V;
      i = parent;
    }
    times[i] = time;
    values[i] = value;
  }

  /** Removes and returns the oldest entry's value. Call only when not empty. */
  pop(): V {
    const times = this.#times;
    const values = this.#values;
    const top = values[0] as V;
    const lastValue = values.pop() as V;
    const n = values.length;
    if (n > 0) {
      const lastTime = times[n] as number;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && (times[right] as number) < (times[left] as number) ? right : left;
        if ((times[child] as number) >= lastTime) break;
        times[i] = times[child] as number;
        values[i] = values[child] as V;
        i = child;
      }
      times[i] = lastTime;
      values[i] = lastValue;
    }
    if (n < times.length >> 2 && times.length > 64) this.#times = times.slice(0, times.length >> 1);
    return top;
  }

  /** Removes everything. */
  clear(): void {
    this.#times = new Float64Array(16);
    this.#values = [];
  }
}
