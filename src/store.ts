/**
 * The store-author API, published as `budgetgate/store`: the {@link Store} interface a backend
 * implements, the types of its calls and answers, and the helpers stores share. Applications need
 * none of it; they import `budgetgate` and a store's own subpath. The conformance suite every store
 * must pass is `budgetgate/store/conformance`.
 *
 * This side imports the core only by its package name (and the core imports it only by its name),
 * so that the built package holds one copy of each: a `Ledger` here is the core's `Ledger`.
 *
 * @packageDocumentation
 */
import type { Ledger } from "budgetgate";

export { describeError } from "./store/describe-error.js";
export { currentPeriod, type Period, periodIndex } from "./store/period.js";
export { show } from "./store/show.js";
export { TickQueue } from "./store/tick-queue.js";
export { verdictOf } from "./store/verdict.js";

/** A value, or a promise of it. Stores that answer synchronously (memory; SQLite with `batch: false`) skip a timer. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The span of time one limit counts spend over, as a store sees it. `id` names the window: two
 * limits with the same `id` count the same spends, whatever their `maxSpend`, so a store keeps one
 * running total per ledger and window id, and a budget that changes its amounts (an upgraded plan)
 * keeps its spend. Stores treat `id` as opaque text of at most 100 characters.
 */
export type StoreWindow =
  | {
      /** A spend at time `t` counts while `t ≥ now − seconds`. */
      readonly kind: "rolling";
      /** `"r:<seconds>"`. */
      readonly id: string;
      /** Length of the window, above 0 and at most `MAX_DURATION_SECONDS`. */
      readonly seconds: number;
    }
  | {
      /**
       * A calendar period: spend counts from the start of the period that holds `now` and starts at
       * zero when the next begins. The engine computes the periods (time zones are its business);
       * the store picks the one its own clock falls in, with {@link currentPeriod}, so that
       * processes whose clocks disagree never split a period.
       */
      readonly kind: "calendar";
      /** `"c:<unit>:<time zone>"`, with the first day of the week for weeks. */
      readonly id: string;
      /**
       * Ascending instants in seconds: period `i` is `[boundaries[i], boundaries[i + 1])`. At least
       * two. They surround the engine's estimate of the store's time; a store whose time falls
       * outside them throws `PeriodRangeError` from `currentPeriod`, and the engine asks again.
       */
      readonly boundaries: readonly number[];
    }
  | {
      /** Every spend counts forever. */
      readonly kind: "lifetime";
      /** `"life"`. */
      readonly id: string;
    };

/**
 * One limit of a line's budget. Amounts are whole numbers of 10⁻¹⁸ units (`10n ** 18n` is one
 * currency unit).
 */
export interface StoreLimit {
  /** What the limit counts spend over. */
  readonly window: StoreWindow;
  /** Most that may be spent in the window, in units of 10⁻¹⁸. */
  readonly maxSpend: bigint;
  /**
   * False for a shadow limit: its spend is recorded like any other, but it never blocks. A call is
   * allowed when every enforced limit of every line has room.
   */
  readonly enforce: boolean;
}

/** One ledger's part of a store call: the ledger, its key and the limits of its budget. */
export interface StoreLine {
  /** The ledger. */
  readonly ledger: Ledger;
  /** `ledger.toString()`: injective, so stores derive every key of the ledger from it. */
  readonly key: string;
  /** The budget's limits, at least one. */
  readonly limits: readonly StoreLimit[];
}

/**
 * What a store reports of one ledger, before the call changed anything (but after what expired by
 * `now` was dropped).
 */
export interface StoreLedgerState {
  /**
   * Per limit, in the order of `line.limits`: committed spend in the limit's window or current
   * period, holds excluded, in units of 10⁻¹⁸.
   */
  readonly committed: readonly bigint[];
  /** Sum of the ledger's active holds. They count against every limit. */
  readonly reserved: bigint;
  /** Time of the ledger's newest recorded spend that the store still keeps, or null. */
  readonly newest: number | null;
}

/** What the engine tells a store about one call besides its arguments. */
export interface StoreCall {
  /**
   * The engine's clock, in seconds, when the engine was given one (tests); `undefined` when the
   * store must use its own: a monotonic clock in-process, the server's clock for shared stores, so
   * that every process and host agrees.
   */
  readonly now: number | undefined;
  /** How long the engine waits for this call, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * `Date.now()` after which the engine has given up on the call and reported a failure.
   * A store whose call may still run after that (a queued command, a server-side script) must make
   * sure that it then changes nothing: a blocked action must not leave a phantom spend behind.
   */
  readonly deadline: number;
  /** Aborted when the engine gives up on the call. */
  readonly signal: AbortSignal;
}

/** A reservation's identity and lifetime, as the store needs them. */
export interface Hold {
  /** Unique id, made by the engine (a UUID). */
  readonly id: string;
  /** Seconds after which the hold stops counting unless committed or released. */
  readonly ttl: number;
  /**
   * Seconds after expiry during which the store still remembers the hold, so that a late commit is
   * recorded (money spent is never dropped) and a late release is a no-op rather than an error.
   */
  readonly retain: number;
}

/** A store's answer to `charge` and `reserve`. */
export interface StoreVerdict {
  /** True if every enforced limit of every line had room and the amount was recorded on all lines; false if on none. */
  readonly allowed: boolean;
  /** Per line, in the order given: its state before this call. */
  readonly lines: readonly StoreLedgerState[];
  /** The time the store decided at, in seconds: `call.now`, or the store's own clock. */
  readonly now: number;
}

/** A store's answer to `release`. */
export interface StoreSettlement {
  /** True if the hold had already expired: a late commit is still recorded. */
  readonly late: boolean;
}

/** A store's answer to `commit`: what `release` answers, and each line's state before the commit. */
export interface StoreCommit extends StoreSettlement {
  /** Per line, in the order given: its state before the commit (with the hold, unless `late`). */
  readonly lines: readonly StoreLedgerState[];
  /** The time the commit was recorded at, in seconds. */
  readonly now: number;
}

/** A store's answer to `read`. */
export interface StoreReading {
  /** The line's state now. */
  readonly state: StoreLedgerState;
  /** The time the store read at, in seconds. */
  readonly now: number;
}

/** Which ledgers `scan` lists, and from where. */
export interface StoreScanQuery {
  /** Only ledgers whose key starts with this text (`"ns:"` for a namespace, `"ns:res@"` for a resource); `""` for all. */
  readonly prefix: string;
  /** The `cursor` of the previous page, or null for the first page. */
  readonly cursor: string | null;
  /** Most entries on one page, 1 to 1000. A page may hold fewer, even none, and still have a next. */
  readonly limit: number;
}

/** One window a ledger keeps a running total for. */
export interface StoreWindowTotal {
  /** The window's id, as `StoreWindow.id`. */
  readonly id: string;
  /** Committed spend in the window (or its current period) at the page's `now`, in units of 10⁻¹⁸. */
  readonly committed: bigint;
}

/** One ledger as `scan` lists it. */
export interface StoreLedgerEntry {
  /** The ledger, parsed back from its key with `Ledger.parse`. */
  readonly ledger: Ledger;
  /** Sum of its active holds. */
  readonly reserved: bigint;
  /** Every window it keeps a total for; a calendar period that has ended counts 0 or is left out. */
  readonly windows: readonly StoreWindowTotal[];
}

/** A page of `scan`. */
export interface StorePage {
  /** Ledgers in the store's own order, each listed once across all pages of one scan. */
  readonly entries: readonly StoreLedgerEntry[];
  /** Where the next page starts, or null after the last. */
  readonly cursor: string | null;
  /** The time the page was read at, in seconds. */
  readonly now: number;
}

/**
 * Where spend state lives. The engine validates every argument and owns every decision rule that is
 * not state (statuses, messages, store-error modes, timeouts, calendars, thresholds); a store owns
 * the state and its atomicity. Implement this to add a backend, and run the shared conformance
 * suite against it from the store's own vitest tests (vitest is an optional peer dependency of
 * budgetgate):
 *
 * ```ts
 * // my-store.test.ts
 * import { describeStoreConformance } from "budgetgate/store/conformance";
 * describeStoreConformance("MyStore", { create: () => new MyStore(), destroy: (store) => store.close?.() });
 * ```
 *
 * The state of a ledger (docs/semantics.md §5–§10, docs/stores/writing-a-store.md):
 * - time for a ledger never runs backward: a store works at `max(now, newest)`, `newest` being the
 *   time of the ledger's newest spend, so that spends stay in time order whatever the clocks do;
 * - a **log** of the ledger's spends `(t, amount)`, kept while `t ≥ now − longest`, `longest` being
 *   the longest rolling window the ledger keeps a total for (none kept if it keeps none);
 * - a **running total per window id** the ledger has been charged under: for a rolling window the
 *   sum of the log from `now − seconds` on (and where in the log that starts); for a calendar
 *   window the period's start and end and the sum of the period's spends; for a lifetime window
 *   the sum of everything. A total is created the first time a call names its window, and starts
 *   from the log: the sum of the spends the log still holds that fall in the window. A calendar
 *   total whose period has ended starts again the same way from the new period's start;
 * - recording a spend adds it to the log and to **every** total the ledger keeps (a calendar total
 *   whose period has ended excepted), whether or not the call names that window: a limit that comes
 *   back into a budget finds every spend it missed;
 * - a total that counts nothing at a call's time (no spend in its window or current period) is
 *   dropped by every call that touches the ledger, and made again from the log when next named: so
 *   forgetting an idle ledger (a sweep, a key's expiry) can never change an answer, whenever it
 *   happens;
 * - holds: a hold counts against every limit of its ledger from `reserve` until `commit`,
 *   `release` or `ttl` seconds have passed;
 * - `charge` and `reserve` allow when `committed + reserved + amount ≤ maxSpend` for every
 *   enforced limit of every line, and then record on all lines, or on none, atomically with
 *   respect to every other caller of the same store; a shadow limit (`enforce: false`) never blocks;
 * - `commit` removes the hold and records `actual` on the lines at the current time; a commit of an
 *   expired hold still records `actual` and answers `late: true`;
 * - `commit` and `release` of an unknown or finished hold throw `ReservationNotFoundError` and
 *   change nothing;
 * - per-call work must not grow with the number of spends in the window (running totals; only the
 *   first use of a window, or a new calendar period, may sum the log once). State that can no
 *   longer count (an idle ledger, a period that ended) must go without a scan of everything.
 *
 * Errors — the contract that keeps a mistake from passing for an outage:
 * - a failure to reach or use the backend (refused or dropped connection, server error, a lock
 *   wait that ran out, a full disk) is thrown as a `StoreError`; a call whose `deadline` passed as
 *   a `StoreTimeoutError` naming the operation (`"charge"`, `"reserve"`, `"commit"`, `"release"`,
 *   `"read"`, `"scan"`, `"clear"`, `"clearAll"`). Only these become STORE_ERROR decisions, per the
 *   budget's `onStoreError`; `commit`, `release`, `read` and the rest throw them. Wrap every error
 *   of your client library that means "the backend is unavailable" in a `StoreError` (keep it as
 *   `cause`);
 * - a calendar window whose boundaries do not hold the store's time: `PeriodRangeError` (from
 *   {@link currentPeriod}), before anything changes; the engine retries with periods around it;
 * - a store that is set up wrongly (schema missing, a bad option, an option function that throws
 *   or answers nonsense) throws `ConfigurationError`; state that cannot be read or a value the
 *   backend cannot hold throws `StateError`. Either must change nothing;
 * - any other error (including a raw error of your client library) is passed to the caller
 *   unchanged, never turned into a decision: under FAIL_OPEN it would silently allow every call.
 * Every value `Budget` and `Engine` accept must work: windows, TTLs and late-commit windows up to
 * `MAX_DURATION_SECONDS`, amounts and totals of 38 digits (10³⁸ − 1 units of 10⁻¹⁸), up to 16
 * limits per line. `describeStoreConformance` (budgetgate/store/conformance) checks all of this.
 *
 * @example
 * import type { Store } from "budgetgate/store";
 * class MyStore implements Store { … }
 * const engine = new Engine({ store: new MyStore() });
 */
export interface Store {
  /** Checks and records a fixed cost on every line, atomically. */
  charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Awaitable<StoreVerdict>;
  /** Checks and places a hold of `amount` on every line, atomically. */
  reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Awaitable<StoreVerdict>;
  /**
   * Replaces hold `id` by a spend of `actual` on `lines` (the lines it was reserved on).
   * @throws {ReservationNotFoundError} if the hold is unknown or already committed or released.
   */
  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Awaitable<StoreCommit>;
  /**
   * Drops hold `id` from `lines` (the lines it was reserved on). A hold that already expired is
   * answered `late: true`.
   * @throws {ReservationNotFoundError} if the hold is unknown or already committed or released.
   */
  release(id: string, lines: readonly StoreLine[], call: StoreCall): Awaitable<StoreSettlement>;
  /** One line's state now: committed spend per limit, holds, newest spend. May create its totals. */
  read(line: StoreLine, call: StoreCall): Awaitable<StoreReading>;
  /**
   * One page of the ledgers the store holds state for, those of `query.prefix`, in the store's
   * order: an indexed or incremental walk (SCAN, a keyset query), never everything at once.
   */
  scan(query: StoreScanQuery, call: StoreCall): Awaitable<StorePage>;
  /** Forgets one ledger's spends and holds. */
  clear(ledger: Ledger, call: StoreCall): Awaitable<void>;
  /** Forgets everything this store holds. */
  clearAll(call: StoreCall): Awaitable<void>;
  /** Releases connections or file handles the store opened itself. */
  close?(): Promise<void>;
}
