/**
 * Most calls one batch carries. Each call of a batch is a subtransaction; PostgreSQL keeps the ids
 * of 64 of them per backend in shared memory, and past that other sessions' snapshots must look
 * them up in pg_subtrans, which slows every session on the server. 64 also bounds how long one
 * batch holds its ledgers' locks.
 */
export const MAX_BATCH = 64;

/**
 * Batches on their way at once. Two: while one runs on the server (holding a hot ledger's lock),
 * the next is already sent and parsed, waiting for that lock, and the callers of a third gather.
 * A connection of the pool each; the rest of the pool stays for commit, release, scan and clear.
 */
export const BATCHES_IN_FLIGHT = 2;

/**
 * Queues calls and hands them to `send` in batches, in the order they came (FIFO). The calls
 * started in one tick of the event loop are sent once its synchronous work and promise callbacks
 * are done (process.nextTick), spread over the free batch slots; while every slot is taken, calls
 * gather and go when one frees: a lone call goes out at once, a burst shares round trips and
 * commits.
 *
 * @example
 * const batcher = new Batcher<number>(async (batch) => console.log(batch));
 * batcher.push(1); batcher.push(2); // logs [1] and [2] after this tick: two free slots
 */
export class Batcher<T> {
  #queue: T[] = [];
  #scheduled = false;
  #inFlight = 0;
  readonly #send: (batch: T[]) => Promise<void>;

  /** `send` decides one batch and settles every call of it itself; it never rejects. */
  constructor(send: (batch: T[]) => Promise<void>) {
    this.#send = send;
  }

  /** Queues a call at the back. */
  push(item: T): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** Puts calls that must go again back at the front, ahead of every call that came after them. */
  again(items: readonly T[]): void {
    this.#queue.unshift(...items);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= BATCHES_IN_FLIGHT) return;
    this.#scheduled = true;
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    while (this.#queue.length > 0 && this.#inFlight < BATCHES_IN_FLIGHT) {
      const free = BATCHES_IN_FLIGHT - this.#inFlight;
      const size = Math.min(MAX_BATCH, Math.ceil(this.#queue.length / free));
      const batch = this.#queue.splice(0, size);
      this.#inFlight++;
      this.#send(batch).finally(() => {
        this.#inFlight--;
        if (this.#queue.length > 0) this.#schedule();
      });
    }
  };
}
