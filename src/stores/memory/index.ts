import {
  type Hold,
  periodIndex,
  type Store,
  type StoreCall,
  type StoreCommit,
  type StoreLedgerEntry,
  type StoreLedgerState,
  type StoreLine,
  type StorePage,
  type StoreReading,
  type StoreScanQuery,
  type StoreSettlement,
  type StoreVerdict,
  type StoreWindow,
  type StoreWindowTotal,
  verdictOf,
} from "budgetgate/store";
import { monotonicClock } from "../../clock.js";
import { ReservationNotFoundError } from "../../errors.js";
import { flat, Ledger } from "../../ledger.js";
import { LedgerState, type MemoryHold } from "./layout.js";
import { TimeHeap } from "./time-heap.js";
import { type Walk, Walks } from "./walks.js";

/**
 * Every SWEEP_EVERY calls the idle sweep visits SWEEP_BATCH ledgers, and SWEEP_PER_NEW more for
 * every ledger made since the last sweep, so that it outpaces ledgers made once and left (a new
 * user per call) while a busy ledger dropped and made again costs one sweep in SWEEP_EVERY calls.
 */
const SWEEP_EVERY = 64;
const SWEEP_BATCH = 16;
const SWEEP_PER_NEW = 2;
/** Most ledgers one page of `scan` walks, matching its prefix or not: a page's work is bounded. */
const SCAN_WALK = 1000;

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
  /**
   * The states of the call's lines, from index 0: calls run one at a time, so one array serves
   * them all (it is never shortened, which would cost a reallocation per call; what stays past the
   * current call's lines is a few states kept alive a little longer).
   */
  readonly #lines: LedgerState[] = [];
  readonly #walks = new Walks();
  /** Where the idle sweep resumes: ledgers nobody asks about again must not stay in memory. */
  #sweepWalk: Walk | undefined;
  #calls = 0;
  /** Ledgers made, ever: the next one's `seq`. */
  #made = 0;
  /** `#made` at the last sweep. */
  #madeAtSweep = 0;

  charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): StoreVerdict {
    const now = this.#tick(call);
    const verdict = verdictOf(lines, this.#before(lines, now), amount, now);
    if (verdict.allowed) this.#record(lines.length, now, amount);
    return verdict;
  }

  reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): StoreVerdict {
    const now = this.#tick(call);
    const verdict = verdictOf(lines, this.#before(lines, now), amount, now);
    if (verdict.allowed) {
      const states = this.#lines.slice(0, lines.length);
      for (const state of states) state.reserved += amount;
      const expiresAt = now + hold.ttl;
      this.#holds.set(hold.id, { amount, states, expiresAt, forgetAt: expiresAt + hold.retain, state: "active" });
      this.#timeline.push(expiresAt, hold.id);
    }
    return verdict;
  }

  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): StoreCommit {
    const now = this.#tick(call);
    const hold = this.#holds.get(id);
    if (hold === undefined) throw new ReservationNotFoundError(id);
    const before = this.#before(lines, now); // with the hold, unless it expired
    const { late } = this.#settle(id, hold);
    this.#record(lines.length, now, actual);
    return { late, lines: before, now };
  }

  /** Drops hold `id`; it is found by id, so `_lines` is not needed. */
  release(id: string, _lines: readonly StoreLine[], call: StoreCall): StoreSettlement {
    this.#tick(call);
    const hold = this.#holds.get(id);
    if (hold === undefined) throw new ReservationNotFoundError(id);
    return this.#settle(id, hold);
  }

  read(line: StoreLine, call: StoreCall): StoreReading {
    const now = this.#tick(call);
    const state = this.#ledgers.get(line.key);
    const t = state === undefined ? now : Math.max(now, state.newest);
    checkPeriods(line, t);
    // A ledger never charged stays unmade: reading it must not cost memory.
    const answer = state === undefined ? nothing(line) : stateOf(state, line, t);
    return { state: answer, now };
  }

  scan(query: StoreScanQuery, call: StoreCall): StorePage {
    const now = this.#tick(call);
    const { prefix, limit } = query;
    let walk: Walk | null = null;
    let after = -1;
    if (query.cursor !== null) ({ walk, after } = this.#walks.resume(query.cursor));
    walk ??= this.#ledgers.entries();
    const entries: StoreLedgerEntry[] = [];
    let walked = 0;
    let last = after;
    for (;;) {
      if (entries.length >= limit || walked >= SCAN_WALK) return { entries, cursor: this.#walks.keep(last, walk), now };
      const next = walk.next();
      if (next.done === true) return { entries, cursor: null, now };
      const [key, state] = next.value;
      if (state.seq <= after) continue; // a walk made again from the start passes what was listed
      walked++;
      last = state.seq;
      if (key.startsWith(prefix)) entries.push(entryOf(key, state, now));
    }
  }

  clear(ledger: Ledger, call: StoreCall): void {
    this.#tick(call);
    // Holds keep a reference to the old state; settling them later touches only that orphan.
    this.#ledgers.delete(ledger.toString());
  }

  clearAll(_call: StoreCall): void {
    this.#ledgers.clear();
    this.#holds.clear();
    this.#timeline.clear();
    this.#walks.clear();
    this.#sweepWalk = undefined;
  }

  /** Number of ledgers with state in memory (for tests and memory measurements). */
  get liveLedgers(): number {
    return this.#ledgers.size;
  }

  /** Number of spends held in memory across all ledgers' logs (for tests and memory measurements). */
  get liveSpends(): number {
    let n = 0;
    for (const state of this.#ledgers.values()) n += state.size;
    return n;
  }

  /**
   * Each line's state before the call, at the ledger's time, totals made and brought up to date;
   * leaves the lines' states in `#lines` for `#record`. Every calendar window is checked against
   * its ledger's time first, so that a PeriodRangeError changes nothing.
   */
  #before(lines: readonly StoreLine[], now: number): StoreLedgerState[] {
    const states = this.#lines;
    const n = lines.length;
    for (let i = 0; i < n; i++) {
      const line = lines[i] as StoreLine;
      let state = this.#ledgers.get(line.key);
      if (state === undefined) {
        state = new LedgerState(this.#made++);
        // A key of a Ledger is flat already; one from elsewhere must not keep its pieces alive.
        this.#ledgers.set(flat(line.key), state);
      }
      states[i] = state;
      checkPeriods(line, Math.max(now, state.newest));
    }
    const before: StoreLedgerState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const state = states[i] as LedgerState;
      before[i] = stateOf(state, lines[i] as StoreLine, Math.max(now, state.newest));
    }
    return before;
  }

  /** Records `amount` on the `n` states `#before` left, each at its ledger's time. */
  #record(n: number, now: number, amount: bigint): void {
    const states = this.#lines;
    for (let i = 0; i < n; i++) {
      const state = states[i] as LedgerState;
      state.record(Math.max(now, state.newest), amount);
    }
  }

  /** Removes a hold, taking it off its ledgers if it still counted. */
  #settle(id: string, hold: MemoryHold): StoreSettlement {
    this.#holds.delete(id);
    if (hold.state === "expired") return { late: true };
    for (const state of hold.states) state.reserved -= hold.amount;
    return { late: false };
  }

  /** The call's time; expires holds whose time has come and runs the sweep when it is due. */
  #tick(call: StoreCall): number {
    const now = call.now ?? monotonicClock();
    if ((++this.#calls & (SWEEP_EVERY - 1)) === 0) this.#sweep(now);
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

  /** Brings the ledgers past the sweep's walk up to date and drops those that can no longer count. */
  #sweep(now: number): void {
    let due = SWEEP_BATCH + SWEEP_PER_NEW * (this.#made - this.#madeAtSweep);
    this.#madeAtSweep = this.#made;
    while (due-- > 0) {
      this.#sweepWalk ??= this.#ledgers.entries();
      const next = this.#sweepWalk.next();
      if (next.done === true) {
        this.#sweepWalk = undefined;
        return;
      }
      const [key, state] = next.value;
      const t = Math.max(now, state.newest);
      state.advance(t);
      if (state.idle(t)) this.#ledgers.delete(key);
    }
  }
}

/**
 * Checks that `t` falls in a period of every calendar limit of `line`, before anything changes.
 * @throws {PeriodRangeError} if it does not.
 */
function checkPeriods(line: StoreLine, t: number): void {
  const limits = line.limits;
  for (let j = 0; j < limits.length; j++) {
    const window = (limits[j] as StoreLine["limits"][number]).window;
    if (window.kind === "calendar") periodIndex(window, t);
  }
}

/** The state of `line` at `t`: totals brought up to date, made where the line names a new window. */
function stateOf(state: LedgerState, line: StoreLine, t: number): StoreLedgerState {
  state.advance(t);
  const limits = line.limits;
  const newest = state.newest === Number.NEGATIVE_INFINITY ? null : state.newest;
  if (limits.length === 1) {
    // The common one-limit line: an array literal of one is the smallest there is.
    return reading([totalOf(state, (limits[0] as StoreLine["limits"][number]).window, t)], state.reserved, newest);
  }
  const committed: bigint[] = new Array(limits.length);
  for (let j = 0; j < limits.length; j++) {
    committed[j] = totalOf(state, (limits[j] as StoreLine["limits"][number]).window, t);
  }
  return reading(committed, state.reserved, newest);
}

/** Committed spend of `state` in `window` at `t` (a calendar window's current period: checked already). */
function totalOf(state: LedgerState, window: StoreWindow, t: number): bigint {
  return state.total(window, t).sum;
}

/** A ledger's state as the store answers it. */
function reading(committed: readonly bigint[], reserved: bigint, newest: number | null): StoreLedgerState {
  return { committed, reserved, newest };
}
// V8 gives the `newest` field of these objects the representation of the first values it sees:
// null and fractional times make it "heap object", and optimised code then bails out on every
// whole-second time (a small integer), without end. Seeing all three kinds first makes it general.
reading([], 0n, null);
reading([], 0n, 1);
reading([], 0n, 0.5);

/** The state of a ledger the store holds nothing for. */
function nothing(line: StoreLine): StoreLedgerState {
  return reading(
    line.limits.map(() => 0n),
    0n,
    null,
  );
}

/** A ledger as `scan` lists it, at the ledger's time. */
function entryOf(key: string, state: LedgerState, now: number): StoreLedgerEntry {
  const t = Math.max(now, state.newest);
  state.advance(t);
  const windows: StoreWindowTotal[] = [];
  for (let total = state.totals; total !== null; total = total.next)
    windows.push({ id: total.id, committed: total.at(t) });
  return { ledger: Ledger.parse(key), reserved: state.reserved, windows };
}
