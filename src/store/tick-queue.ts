/**
 * A queue that gathers the calls started in one tick of the event loop and hands them to `drain`
 * once that tick's synchronous work and promise callbacks are done (`process.nextTick` runs after
 * the microtasks): concurrent calls can then share one transaction or one round trip without
 * waiting for a timer, and a lone call goes out as soon as it would have anyway. What to take, and
 * in what batches, is each store's own policy; this holds only the gathering, for every store alike.
 *
 * `drain` is given the queue itself, oldest first: it removes what it sends (`splice`), and what it
 * leaves waits for the next drain, which {@link TickQueue.wake} asks for (a store that sends one
 * batch at a time wakes the queue when the batch is answered).
 *
 * @example
 * const queue = new TickQueue<number>((items) => console.log(items.splice(0)));
 * queue.push(1); queue.push(2); // logs [1, 2] once this tick is done
 */
export class TickQueue<T> {
  readonly #items: T[] = [];
  #scheduled = false;
  readonly #drain: (items: T[]) => void;

  /** `drain` takes what it sends from the front of the queue; it must not throw. */
  constructor(drain: (items: T[]) => void) {
    this.#drain = drain;
  }

  /** Queues a call at the back. */
  push(item: T): void {
    this.#items.push(item);
    this.wake();
  }

  /** Puts calls back at the front, ahead of every call that came after them (calls to send again). */
  pushFront(items: readonly T[]): void {
    this.#items.unshift(...items);
    this.wake();
  }

  /** Asks for a drain once this tick is done, unless one is asked for already. */
  wake(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    if (this.#items.length > 0) this.#drain(this.#items);
  };
}
