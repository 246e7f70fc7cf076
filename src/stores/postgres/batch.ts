/**
 * Most calls one batch carries: it bounds how long one batch holds its ledgers' locks, and how
 * much one failing call costs its batch (the batch runs again without it; see decide_many).
 */
export const MAX_BATCH = 64;

/**
 * Queues calls and hands them to `send` one batch at a time, in the order they came (FIFO). The
 * calls started in one tick of the event loop are sent once its synchronous work and promise
 * callbacks are done (process.nextTick); while a batch is in flight, calls gather and go together
 * when it is answered: a lone call goes out at once, a burst shares one round trip and one commit.
 *
 * One batch in flight, not two or more: on a hot ledger every batch waits for the one before it
 * anyway (its row lock), and one batch makes the calls on that ledger one run that decide() loads
 * and writes once. Measured side by side, 32 callers on one ledger, one batch in flight against
 * two: 5,174 against 4,115 decisions/s (pg), 4,724 against 3,997 (postgres.js); one at a time also
 * keeps the order strict across batches.
 *
 * @example
 * const batcher = new Batcher<number>(async (batch) => console.log(batch));
 * batcher.push(1); batcher.push(2); // logs [1, 2] after this tick
 */
export class Batcher<T> {
  #queue: T[] = [];
  #scheduled = false;
  #inFlight = false;
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
    if (this.#scheduled || this.#inFlight) return;
    this.#scheduled = true;
    process.nextTick(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#inFlight || this.#queue.length === 0) return;
    this.#inFlight = true;
    this.#send(this.#queue.splice(0, MAX_BATCH)).finally(() => {
      this.#inFlight = false;
      if (this.#queue.length > 0) this.#schedule();
    });
  };
}
