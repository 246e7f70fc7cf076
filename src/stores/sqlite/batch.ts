import { TickQueue } from "budgetgate/store";

/**
 * Most calls one transaction decides. A batch holds the file's write lock for the time of all its
 * calls (each well under a millisecond), so other processes wait at most that long for it; 64
 * calls already share one disk sync 64 ways.
 */
export const MAX_BATCH = 64;

/**
 * The calls started in one tick, decided in order (FIFO) by `run` in batches of at most
 * {@link MAX_BATCH}, one batch after the other. `run` is synchronous (so are SQLite's drivers): no
 * call waits for anything but the calls ahead of it in the same tick. `run` settles every call of
 * its batch itself and never throws.
 *
 * @example
 * const batcher = sqliteBatcher<number>((batch) => console.log(batch));
 * batcher.push(1); batcher.push(2); // logs [1, 2] after this tick
 */
export function sqliteBatcher<T>(run: (batch: T[]) => void): TickQueue<T> {
  return new TickQueue<T>((items) => {
    while (items.length > 0) run(items.splice(0, MAX_BATCH));
  });
}
