import { TickQueue } from "budgetgate/store";

/**
 * Most calls one batch carries: it bounds how long one batch holds its ledgers' locks, and how
 * much one failing call costs its batch (the batch runs again without it; see decide_many).
 */
export const MAX_BATCH = 64;

/**
 * The calls in flight, sent by `send` one batch at a time, in the order they came (FIFO): a lone
 * call goes out once its tick is done, and while a batch is in flight the calls gather and go
 * together when it is answered, so that a burst shares one round trip and one commit. Calls to send
 * again go back at the front of the queue (`pushFront`).
 *
 * One batch in flight, not two or more: on a hot ledger every batch waits for the one before it
 * anyway (its row lock), and one batch makes the calls on that ledger one run that decide() loads
 * and writes once. Measured side by side, 32 callers on one ledger, one batch in flight against
 * two: 5,174 against 4,115 decisions/s (pg), 4,724 against 3,997 (postgres.js); one at a time also
 * keeps the order strict across batches.
 *
 * `send` settles every call of its batch itself and never rejects.
 *
 * @example
 * const batcher = postgresBatcher<number>(async (batch) => console.log(batch));
 * batcher.push(1); batcher.push(2); // logs [1, 2] after this tick
 */
export function postgresBatcher<T>(send: (batch: T[]) => Promise<void>): TickQueue<T> {
  let inFlight = false;
  const queue: TickQueue<T> = new TickQueue<T>((items) => {
    if (inFlight) return; // the answer wakes the queue
    inFlight = true;
    void send(items.splice(0, MAX_BATCH)).finally(() => {
      inFlight = false;
      queue.wake();
    });
  });
  return queue;
}
