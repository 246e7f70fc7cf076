/**
 * What MemoryStore keeps: a state per ledger and a record per hold. Named layout.ts as in the Redis
 * store (the SQL stores' counterpart is schema.ts). It has no LAYOUT_VERSION, unlike the stores
 * that persist: its state never outlives the process that wrote it, so no store of another version
 * can meet it. Nor has it a keys.ts: it keys its maps by the ledger's string form itself.
 *
 * A ledger's state is one object: it *is* its spend log (the class extends {@link SpendLog}, so
 * the log costs no object of its own), with the sum of its holds, its totals and its place in the
 * store's order. An idle ledger charged once holds no array: about 190 bytes besides its key.
 */
import { currentPeriod, type StoreWindow } from "budgetgate/store";
import { SpendLog } from "./spend-log.js";
import { CalendarTotal, LifetimeTotal, RollingTotal, type Total } from "./totals.js";

/** One ledger's state. */
export class LedgerState extends SpendLog {
  /** Sum of the active holds on this ledger. */
  reserved = 0n;
  /** First of the ledger's totals (linked through `next`), or null. */
  totals: Total | null = null;

  constructor(
    /** Rank of creation in the store: the store's Map iterates in this order, and `scan` resumes by it. */
    readonly seq: number,
  ) {
    super();
  }

  /**
   * Brings every total to `t` (the ledger's time, never before `newest`): rolling windows drop the
   * spends that left them, and the log keeps only what the longest of them still counts.
   */
  advance(t: number): void {
    let keep = this.end;
    let previous: Total | null = null;
    for (let total = this.totals; total !== null; total = total.next) {
      const reads = total.advance(this, t);
      // A total that counts nothing goes at every touch (it is made again from the log when next
      // named), so that when an idle ledger is forgotten — by a sweep, by a key's expiry — changes
      // no answer, on any store.
      if (!total.counts(t)) {
        if (previous === null) this.totals = total.next;
        else previous.next = total.next;
        continue;
      }
      previous = total;
      if (reads < keep) keep = reads;
    }
    this.trimTo(keep);
  }

  /**
   * The total of `window` at `t`, made (seeded from the log) the first time the window is named;
   * a calendar total is restarted from the log when its period does not hold `t` (whose period
   * the caller has checked is among those the window was sent with). Call after `advance(t)`.
   */
  total(window: StoreWindow, t: number): Total {
    const id = window.id;
    let total = this.totals;
    while (total !== null && total.id !== id) total = total.next;
    if (total === null) {
      total = made(window, this, t);
      total.next = this.totals;
      this.totals = total;
    } else if (window.kind === "calendar") {
      // A window's id names its kind, so this is a CalendarTotal; the periods of one id partition
      // time, so a period that holds `t` is the one the window would pick.
      const calendar = total as CalendarTotal;
      if (t < calendar.start || t >= calendar.end) {
        const { start, end } = currentPeriod(window, t);
        calendar.restart(this, start, end);
      }
    }
    return total;
  }

  /** Records a spend at `t` (not before `newest`) in the log and in every total the ledger keeps. */
  record(t: number, amount: bigint): void {
    if (amount === 0n) return; // changes no total, and a log entry of 0 would only cost memory
    let rolling = false;
    for (let total = this.totals; total !== null; total = total.next) {
      total.add(amount, t);
      if (total.logs) rolling = true;
    }
    // The log serves rolling windows, and those yet to be named; a ledger with none keeps no log.
    if (rolling) this.append(t, amount);
    else this.newest = t;
  }

  /** True when dropping the state would change no answer: nothing logged, held or counted at `t`. */
  idle(t: number): boolean {
    if (this.size !== 0 || this.reserved !== 0n) return false;
    for (let total = this.totals; total !== null; total = total.next) if (total.counts(t)) return false;
    return true;
  }
}

function made(window: StoreWindow, log: SpendLog, t: number): Total {
  switch (window.kind) {
    case "rolling":
      return RollingTotal.seeded(window.id, window.seconds, log, t);
    case "calendar": {
      const { start, end } = currentPeriod(window, t);
      const total = new CalendarTotal(window.id, start, end, 0n);
      total.restart(log, start, end);
      return total;
    }
    case "lifetime":
      return new LifetimeTotal(window.id, log.sumFrom(log.head));
  }
}

/** Where a hold is in its life: counting, or expired but remembered for a late commit. */
export type HoldState = "active" | "expired";

/** A hold: its amount counts in `reserved` of each of its ledgers' states while active. */
export interface MemoryHold {
  readonly amount: bigint;
  readonly states: readonly LedgerState[];
  readonly expiresAt: number;
  readonly forgetAt: number;
  state: HoldState;
}
