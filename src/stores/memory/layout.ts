/**
 * What MemoryStore keeps: a state per ledger and a record per hold. Named layout.ts as in the Redis
 * store (the SQL stores' counterpart is schema.ts). It has no LAYOUT_VERSION, unlike the stores
 * that persist: its state never outlives the process that wrote it, so no store of another version
 * can meet it. Nor has it a keys.ts: it keys its maps by the ledger's string form itself.
 */
import { TimeQueue } from "./time-queue.js";

/** One ledger's state: running totals, so that no call ever sums the window. */
export class LedgerState {
  /** Sum of the spends in `spends`. */
  committed = 0n;
  /** Sum of the active holds on this ledger. */
  reserved = 0n;
  /** The window of the budget last applied; the idle sweep prunes by it. */
  window: number | null = null;
  readonly spends = new TimeQueue<bigint>();

  /** Drops spends older than the window, oldest first. */
  prune(now: number, window: number | null): void {
    this.window = window;
    if (window === null) return;
    const horizon = now - window;
    const spends = this.spends;
    while (spends.peekTime() < horizon) this.committed -= spends.pop();
  }

  get total(): bigint {
    return this.committed + this.reserved;
  }

  /** Nothing in the window and no hold: the state can go. */
  get empty(): boolean {
    return this.spends.size === 0 && this.reserved === 0n;
  }
}

export type HoldState = "active" | "expired";

export interface MemoryHold {
  readonly amount: bigint;
  readonly states: readonly LedgerState[];
  readonly expiresAt: number;
  readonly forgetAt: number;
  state: HoldState;
}
