import {
  type Hold,
  type Store,
  type StoreCall,
  type StoreLine,
  type StoreSettlement,
  type StoreVerdict,
  verdictOf,
} from "budgetgate/store";
import { monotonicClock } from "../../clock.js";
import { ReservationNotFoundError } from "../../errors.js";
import type { Ledger } from "../../ledger.js";
import { LedgerState, type MemoryHold } from "./layout.js";
import { TimeHeap } from "./time-heap.js";

/** Every SWEEP_EVERY calls, up to SWEEP_BATCH ledgers are pruned and dropped if empty. */
const SWEEP_EVERY = 64;
const SWEEP_BATCH = 16;

/**
 * The in-process store, and the engine's default: exact (bigint units), atomic under any
 * interleaving of async callers (every call runs to completion synchronously), and O(1) per
 * decision however many spends a window holds — running totals, expiry from the oldest end.
 *
 * State lives and dies with the process; use the SQLite, PostgreSQL or Redis store to survive
 * restarts or to share one budget between processes.
 *
 * @example
 * const engine = new Engine({ store: new MemoryStore() });
 */
export class MemoryStore implements Store {
  readonly #ledgers = new Map<string, LedgerState>();
  readonly #holds = new Map<string, MemoryHold>();
  /** Holds by the time they next need attention: expiry, then the end of their late-commit window. */
  readonly #timeline = new TimeHeap<string>();
  /** Where the idle sweep resumes: ledgers nobody asks about again must not stay in memory. */
  #sweepCursor: Iterator<[string, LedgerState]> | undefined;
  #calls = 0;

  charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): StoreVerdict {
    const now = this.#now(call);
    const states = this.#states(lines, now);
    const verdict = verdictOf(
      lines,
      states.map((state) => state.total),
      amount,
    );
    if (verdict.allowed) for (const state of states) record(state, now, amount);
    return verdict;
  }

  reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): StoreVerdict {
    const now = this.#now(call);
    const states = this.#states(lines, now);
    const verdict = verdictOf(
      lines,
      states.map((state) => state.total),
      amount,
    );
    if (verdict.allowed) {
      for (const state of states) state.reserved += amount;
      const expiresAt = now + hold.ttl;
      this.#holds.set(hold.id, { amount, states, expiresAt, forgetAt: expiresAt + hold.retain, state: "active" });
      this.#timeline.push(expiresAt, hold.id);
    }
    return verdict;
  }

  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): StoreSettlement {
    const now = this.#now(call);
    const outcome = this.#settle(id);
    for (const state of this.#states(lines, now)) record(state, now, actual);
    return outcome;
  }

  /** Drops hold `id`; it is found by id, so `_lines` is not needed. */
  release(id: string, _lines: readonly StoreLine[], call: StoreCall): StoreSettlement {
    this.#now(call);
    return this.#settle(id);
  }

  spent(line: StoreLine, call: StoreCall): bigint {
    const now = this.#now(call);
    const state = this.#ledgers.get(line.key);
    if (state === undefined) return 0n;
    state.prune(now, line.window);
    return state.total;
  }

  clear(ledger: Ledger, call: StoreCall): void {
    this.#now(call);
    // Holds keep a reference to the old state; settling them later touches only that orphan.
    this.#ledgers.delete(ledger.toString());
  }

  clearAll(_call: StoreCall): void {
    this.#ledgers.clear();
    this.#holds.clear();
    this.#timeline.clear();
  }

  /** Number of ledgers with state in memory (for tests and memory measurements). */
  get liveLedgers(): number {
    return this.#ledgers.size;
  }

  /** Number of spends held in memory across all ledgers (for tests and memory measurements). */
  get liveSpends(): number {
    let n = 0;
    for (const state of this.#ledgers.values()) n += state.spends.size;
    return n;
  }

  /** Removes a hold (throwing if unknown), taking it off its ledgers if it still counted. */
  #settle(id: string): StoreSettlement {
    const hold = this.#holds.get(id);
    if (hold === undefined) throw new ReservationNotFoundError(id);
    this.#holds.delete(id);
    if (hold.state === "expired") return { late: true };
    for (const state of hold.states) state.reserved -= hold.amount;
    return { late: false };
  }

  /** The call's time; expires holds whose time has come, so that every call sees current totals. */
  #now(call: StoreCall): number {
    const now = call.now ?? monotonicClock();
    if (++this.#calls % SWEEP_EVERY === 0) this.#sweep(now);
    const timeline = this.#timeline;
    while (timeline.peekTime() <= now) {
      const time = timeline.peekTime();
      const id = timeline.pop();
      const hold = this.#holds.get(id);
      if (hold === undefined) continue; // settled before its time came
      if (hold.state === "active" && time === hold.expiresAt) {
        hold.state = "expired";
        for (const state of hold.states) state.reserved -= hold.amount;
        timeline.push(hold.forgetAt, id);
      } else if (hold.state === "expired" && time === hold.forgetAt) {
        this.#holds.delete(id);
      }
    }
    return now;
  }

  /** Prunes a few ledgers past the cursor and drops those left empty: bounded work per call. */
  #sweep(now: number): void {
    for (let i = 0; i < SWEEP_BATCH; i++) {
      this.#sweepCursor ??= this.#ledgers.entries();
      const next = this.#sweepCursor.next();
      if (next.done) {
        this.#sweepCursor = undefined;
        return;
      }
      const [key, state] = next.value;
      state.prune(now, state.window);
      if (state.empty) this.#ledgers.delete(key);
    }
  }

  #states(lines: readonly StoreLine[], now: number): LedgerState[] {
    return lines.map((line) => {
      let state = this.#ledgers.get(line.key);
      if (state === undefined) {
        state = new LedgerState();
        this.#ledgers.set(line.key, state);
      }
      state.prune(now, line.window);
      return state;
    });
  }
}

function record(state: LedgerState, now: number, amount: bigint): void {
  if (amount === 0n) return;
  state.committed += amount;
  state.spends.push(now, amount);
}
