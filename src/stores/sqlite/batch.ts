/**
 * Most calls one transaction decides. A batch holds the file's write lock for the time of all its
 * calls (each well under a millisecond), so other processes wait at most that long for it; 64
 * calls already share one disk sync 64 ways.
 */
export const MAX_BATCH = 64;

/**
 * Queues calls and hands them to `run` in batches, in the order they came (FIFO): the calls
 * started in one tick of the event loop are run once its synchronous work and promise callbacks
 * are done (process.nextTick), at most {@link MAX_BATCH} at a time, one batch after the other.
 * `run` is synchronous (so are SQLite's drivers): no call waits for anything but the calls ahead
 * of it in the same tick.
 *
 * @example
 * const batcher = new Batcher<number>((batch) => console.log(batch));
 * batcher.push(1); batcher.push(2); // logs [1, 2] after this tick
 */
export class Batcher<T> {
  #queue: T[] = [];
  #scheduled = false;
  readonly #run: (batch: T[]) => void;

  /** `run` decides one batch and settles every call of it itself; it never throws. */
  constructor(run: (batch: T[]) => void) {
    this.#run = run;
  }

  /** Queues a call at the back. */
  push(item: T): void {
    this.#queue.push(item);
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += MAX_BATCH) this.#run(queue.slice(i, i + MAX_BATCH));
  };
}
