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
export { show } from "./store/show.js";
export { verdictOf } from "./store/verdict.js";

/** A value, or a promise of it. Stores that answer synchronously (memory, SQLite) skip a timer. */
export type Awaitable<T> = T | Promise<T>;

/**
 * One ledger's part of a store call: the ledger, its key and the limit of its budget.
 * Amounts are whole numbers of 10⁻¹⁸ units (`1n * 10n ** 18n` is one currency unit).
 */
export interface StoreLine {
  /** The ledger. */
  readonly ledger: Ledger;
  /** `ledger.toString()`: injective, so stores derive every key of the ledger from it. */
  readonly key: string;
  /** The budget's `maxSpend`, in units of 10⁻¹⁸. */
  readonly maxSpend: bigint;
  /** The budget's window in seconds, or null for a lifetime budget. */
  readonly window: number | null;
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
  /** True if every line had room and the amount was recorded on all of them; false if on none. */
  readonly allowed: boolean;
  /**
   * Per line, in the order given: spend in the window before this call — committed spends plus
   * active holds — in units of 10⁻¹⁸.
   */
  readonly spent: readonly bigint[];
}

/** A store's answer to `commit` and `release`. */
export interface StoreSettlement {
  /** True if the hold had already expired: a late commit is still recorded. */
  readonly late: boolean;
}

/**
 * Where spend state lives. The engine validates every argument and owns every decision rule that is
 * not state (statuses, messages, store-error modes, timeouts); a store owns the state and its
 * atomicity. Implement this to add a backend, and run the shared conformance suite against it from
 * the store's own vitest tests (vitest is an optional peer dependency of budgetgate):
 *
 * ```ts
 * // my-store.test.ts
 * import { describeStoreConformance } from "budgetgate/store/conformance";
 * describeStoreConformance("MyStore", { create: () => new MyStore(), destroy: (store) => store.close?.() });
 * ```
 *
 * Rules every store follows (docs/semantics.md §5–§10):
 * - a spend recorded at time `t` counts while `t ≥ now − window`; with `window: null`, forever;
 * - a hold counts from `reserve` until `commit`, `release` or `ttl` seconds have passed;
 * - `charge` and `reserve` check `spent + amount ≤ maxSpend` on every line and record on all lines
 *   or none, atomically with respect to every other caller of the same store;
 * - `commit` removes the hold and records `actual` on the lines at the current time; a commit of an
 *   expired hold still records `actual` and answers `late: true`;
 * - `commit` and `release` of an unknown or finished hold throw `ReservationNotFoundError` and
 *   change nothing;
 * - per-call work must not grow with the number of spends in the window (keep running totals).
 *
 * Errors — the contract that keeps a mistake from passing for an outage:
 * - a failure to reach or use the backend (refused or dropped connection, server error, a lock
 *   wait that ran out, a full disk) is thrown as a `StoreError`; a call whose `deadline` passed as
 *   a `StoreTimeoutError` naming the operation (`"charge"`, `"reserve"`, `"commit"`, `"release"`,
 *   `"spent"`, `"clear"`, `"clearAll"`). Only these become STORE_ERROR decisions, per the budget's
 *   `onStoreError`; `commit`, `release`, `spent` and the rest throw them. Wrap every error of your
 *   client library that means "the backend is unavailable" in a `StoreError` (keep it as `cause`);
 * - a store that is set up wrongly (schema missing, a bad option, an option function that throws
 *   or answers nonsense) throws `ConfigurationError`; state that cannot be read or a value the
 *   backend cannot hold throws `StateError`. Either must change nothing;
 * - any other error (including a raw error of your client library) is passed to the caller
 *   unchanged, never turned into a decision: under FAIL_OPEN it would silently allow every call.
 * Every value `Budget` and `Engine` accept must work: windows, TTLs and late-commit windows up to
 * `MAX_DURATION_SECONDS`, amounts and totals of 38 digits (10³⁸ − 1 units of 10⁻¹⁸).
 * `describeStoreConformance` (budgetgate/store/conformance) checks all of this.
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
  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Awaitable<StoreSettlement>;
  /**
   * Drops hold `id` from `lines` (the lines it was reserved on). A hold that already expired is
   * answered `late: true`.
   * @throws {ReservationNotFoundError} if the hold is unknown or already committed or released.
   */
  release(id: string, lines: readonly StoreLine[], call: StoreCall): Awaitable<StoreSettlement>;
  /** Spend in the window on one line, holds included, in units of 10⁻¹⁸. */
  spent(line: StoreLine, call: StoreCall): Awaitable<bigint>;
  /** Forgets one ledger's spends and holds. */
  clear(ledger: Ledger, call: StoreCall): Awaitable<void>;
  /** Forgets everything this store holds. */
  clearAll(call: StoreCall): Awaitable<void>;
  /** Releases connections or file handles the store opened itself. */
  close?(): Promise<void>;
}
