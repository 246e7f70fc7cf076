import { type StoreCall, TickQueue } from "budgetgate/store";

/** One store operation waiting to be sent in a batch. */
export interface Operation {
  /** The store method it serves (`"charge"`, `"commit"`, …, or `"undo"`), for error messages. */
  readonly name: string;
  /** Operation code of the batch script (see scripts.ts). */
  readonly code: string;
  /** The keys it declares: its ledgers' state keys, then a hold's key for a reserve or settle. */
  readonly keys: readonly string[];
  /** Its own fields, after the deadline and now, each ended by a zero byte (see scripts.ts). */
  readonly fields: string;
  /**
   * The limits of each of its lines, as limitsArg in index.ts encodes them (none for an operation
   * that reads no limits): sent once per batch however many operations name them, each operation
   * naming its lines' by their place among the arguments, after its own fields.
   */
  readonly limits: readonly string[];
  /** The engine's call: its deadline and clock. */
  readonly call: StoreCall;
  /** monotonicMs() at which the engine gives up on the call (Infinity: never). */
  readonly giveUpAt: number;
  /**
   * How many values it answers when it ran (see scripts.ts): for a charge or reserve either way,
   * for a commit when it settled; the list operation says its own count.
   */
  readonly values: number;
  /** Hash tag of the operation's keys: a batch on a cluster holds one tag only. */
  readonly tag: string;
  /**
   * For a charge or a reserve: what it takes to reverse it, should it take effect although its
   * caller was told it failed.
   */
  readonly reversal?: Reversal;
  /** Gets the operation's answer: the status, then the fields that follow it. */
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

/** An operation's answer: its status (see scripts.ts) and the values after it. */
export interface Answer {
  readonly status: number;
  readonly values: readonly unknown[];
  /** The server's time when the batch ran, in seconds (NaN for an answer from a receipt). */
  readonly now: number;
}

/**
 * How to reverse a charge (`id` empty) or a reserve, as the undo operation takes it: the undo
 * needs no limits, since a refund leaves every total that counted the spend.
 */
export interface Reversal {
  readonly code: "c" | "r";
  readonly amount: string;
  readonly id: string;
  /** Number of lines. */
  readonly lines: number;
}

/**
 * Most operations one script call carries. Each call has a fixed cost on the server before it does
 * any operation (reading its arguments, setting the script up), so bigger batches share it, while
 * 64 operations are still short enough that no call holds the server for long. The measurements
 * behind the number are in docs/benchmarks.md ("RedisStore: instructions per decision").
 */
export const MAX_BATCH = 64;

/**
 * The operations started in one tick of the event loop, handed to `send` together once the tick is
 * done (see {@link TickQueue}), so that concurrent calls share one script call and one round trip
 * without waiting for a timer: a lone call goes out as soon as it would have anyway.
 *
 * A tick's operations go out as one call while another call is in flight, and as two when none
 * is: two calls alternate, the server running one while the client reads the answer of the other
 * and sends the next. Why this rule and not a fixed split: the side-by-side measurements of
 * `npm run bench:redis` in docs/benchmarks.md ("RedisStore: how a tick is split into calls").
 * With `byTag` (Redis Cluster), each call holds operations of one hash tag only.
 *
 * `send` sends one batch and settles once its answer is handled, every operation answered by it,
 * failures included.
 *
 * @example
 * const batcher = redisBatcher((operations) => transport.send(operations), false);
 * batcher.push(operation); // sent once this tick is done
 */
export function redisBatcher(send: (operations: Operation[]) => Promise<void>, byTag: boolean): TickQueue<Operation> {
  let inFlight = 0;
  const done = () => {
    inFlight--;
  };
  const dispatch = (operations: Operation[]): void => {
    inFlight++;
    // send answers every operation itself; this only counts calls in flight.
    send(operations).then(done, done);
  };
  return new TickQueue<Operation>((items) => {
    const queue = items.splice(0);
    if (!byTag) {
      const parts = inFlight === 0 ? 2 : 1;
      const size = Math.min(MAX_BATCH, Math.ceil(queue.length / parts));
      if (queue.length <= size) dispatch(queue);
      else for (let i = 0; i < queue.length; i += size) dispatch(queue.slice(i, i + size));
      return;
    }
    const groups = new Map<string, Operation[]>();
    for (const operation of queue) {
      let group = groups.get(operation.tag);
      if (group === undefined) {
        group = [];
        groups.set(operation.tag, group);
      }
      group.push(operation);
      if (group.length === MAX_BATCH) {
        dispatch(group);
        groups.delete(operation.tag);
      }
    }
    for (const group of groups.values()) dispatch(group);
  });
}
