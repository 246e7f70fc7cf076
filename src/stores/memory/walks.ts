/**
 * Where the pages of `scan` resume. A JavaScript Map iterates in insertion order, and a live
 * iterator survives deletions and sees what is inserted after it, but a Map cannot be entered in
 * the middle. So the store numbers its ledgers in creation order (`LedgerState.seq`, the order the
 * Map iterates in), a cursor names the last ledger a page walked, and the iterator that walked it
 * is kept here, under that cursor, for the next page: resuming costs nothing. Only a few are kept;
 * a cursor whose iterator was dropped resumes by walking from the start past every ledger numbered
 * up to it — correct, without copying or sorting anything, but at the cost of a walk.
 */
import { ConfigurationError } from "../../errors.js";
import type { LedgerState } from "./layout.js";

/** Most iterators kept for scans in progress; the oldest goes first. */
const KEPT = 16;

/** A walk over the store's ledgers, as a page leaves it. */
export type Walk = Iterator<[string, LedgerState]>;

/** The iterators of scans in progress, by the cursor their last page answered. */
export class Walks {
  readonly #kept = new Map<string, Walk>();

  /** The cursor naming the ledger numbered `seq`, and the walk that stands after it. */
  keep(seq: number, walk: Walk): string {
    const cursor = `m${seq}`;
    if (this.#kept.size >= KEPT && !this.#kept.has(cursor)) {
      const oldest = this.#kept.keys().next().value as string;
      this.#kept.delete(oldest);
    }
    this.#kept.set(cursor, walk);
    return cursor;
  }

  /**
   * The walk that resumes after `cursor`, and the number of the last ledger already walked, or
   * null for the walk to be made from the start.
   * @throws {ConfigurationError} if `cursor` is not one this store answered.
   */
  resume(cursor: string): { walk: Walk | null; after: number } {
    const seq = /^m(0|[1-9]\d{0,15})$/.exec(cursor);
    if (seq === null)
      throw new ConfigurationError(`Invalid scan cursor ${JSON.stringify(cursor)}: not one this store answered`);
    const walk = this.#kept.get(cursor) ?? null;
    // Two scans at the same place share a cursor; the first to resume takes the walk, the other walks again.
    this.#kept.delete(cursor);
    return { walk, after: Number(seq[1]) };
  }

  /** Forgets every walk (after the store was cleared). */
  clear(): void {
    this.#kept.clear();
  }
}
