/**
 * `budgetgate/sqlite`: A store in a SQLite file, shared by the processes of one host: the calls started in one
 * tick share one `BEGIN IMMEDIATE` transaction, each in a savepoint of its own (one per call with
 * `batch: false`). See docs/stores/sqlite.md.
 *
 * @module budgetgate/sqlite
 */
import { BudgetGateError, ConfigurationError, Ledger, StateError, StoreError, StoreTimeoutError } from "budgetgate";
import {
  type Awaitable,
  currentPeriod,
  describeError,
  type Hold,
  type Store,
  type StoreCall,
  type StoreCommit,
  type StoreLedgerEntry,
  type StoreLine,
  type StorePage,
  type StoreReading,
  type StoreScanQuery,
  type StoreSettlement,
  type StoreVerdict,
  show,
  type TickQueue,
  verdictOf,
} from "budgetgate/store";
import { Account } from "./accounts.js";
import { sqliteBatcher } from "./batch.js";
import { openDatabase, resultCode, SQLITE_DRIVERS, type SqliteDatabase, type SqliteDriver } from "./driver.js";
import { expireHolds, findHold, placeHold, settleHold } from "./holds.js";
import { keyOf, scanRanges, storedKey } from "./keys.js";
import { isBusy, withWriteLock } from "./lock.js";
import { DEFAULT_PREFIX, LAYOUT_VERSION, schemaSql, tableNames } from "./schema.js";
import { type LedgerRow, prepareStatements, type Statements } from "./statements.js";
import { sweepLedgers } from "./sweep.js";

export type { SqliteDatabase, SqliteDriver, SqliteStatement } from "./driver.js";
export { DEFAULT_PREFIX, LAYOUT_VERSION } from "./schema.js";

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. `"full"` (default) syncs the write-ahead log on every commit:
   * a decision that returned survives a power loss. `"normal"` syncs only at checkpoints: a killed
   * process still loses nothing, but a power loss or kernel crash may roll back the last commits.
   */
  readonly synchronous?: "full" | "normal";
  /**
   * Prefix of the store's table names, so that it can share a database: tables `<prefix>_meta`,
   * `<prefix>_ledgers`, …. Default `"budgetgate"`.
   */
  readonly prefix?: string;
  /** Most expired spend rows deleted per ledger per call. Default 512. */
  readonly deleteBatch?: number;
  /** How long the constructor waits for a lock held by another connection, in ms. Default 5000. */
  readonly openTimeoutMs?: number;
  /**
   * The SQLite library that opens a file path: `"better-sqlite3"`, `"node:sqlite"` or
   * `"bun:sqlite"`. Default: bun:sqlite on Bun, node:sqlite on Deno; on Node better-sqlite3, or node:sqlite when better-sqlite3 is not installed.
   */
  readonly driver?: SqliteDriver;
  /**
   * `true` (default): the calls started in one tick of the event loop are decided together, in
   * order, in one transaction — one disk sync for all of them — each in a savepoint of its own, so
   * that one that fails rolls back alone; calls answer with a promise. `false`: every call is a
   * transaction of its own and answers synchronously (no promise, and the engine adds no timer).
   */
  readonly batch?: boolean;
}

type Transaction = ReturnType<SqliteDatabase["transaction"]>;

/** A call waiting in the batcher. */
interface Queued {
  readonly operation: string;
  readonly call: StoreCall;
  readonly lines: readonly StoreLine[];
  readonly work: (now: number) => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What one call of a batch came to inside the transaction. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * A store in an SQLite file, for budgets that survive restarts and are shared by the processes of
 * one host (a CLI agent, a worker box): several processes opening the same file enforce one budget
 * exactly. Built on better-sqlite3 (a peer dependency: `npm install better-sqlite3`).
 *
 * - The calls started in one tick are decided in order in one `BEGIN IMMEDIATE` transaction, so
 *   that concurrent callers share one disk sync; each call is a savepoint of its own: check and
 *   record are atomic across processes, and a failure anywhere in a call rolls that call back,
 *   alone. With `batch: false`, every call is a transaction of its own.
 * - The file is put in WAL mode. A call waits for another connection's lock no longer than the
 *   engine's `storeTimeoutMs` (its deadline), then fails with a {@link StoreTimeoutError}: the
 *   engine applies `onStoreError`, as for an I/O error or a full disk ({@link StoreError}). Tables
 *   gone from the database are a {@link ConfigurationError}, unreadable rows a {@link StateError}:
 *   both reach the caller.
 * - With `batch: false`, calls answer synchronously, so the engine adds no timer.
 * - Amounts are exact (decimal text, bigint arithmetic); per-call work grows with neither history
 *   nor the number of spends in a window: one running total per ledger and window id, each an
 *   offset into the ledger's prefix sums.
 * - Time is `call.now` when the engine has a clock, else SQLite's clock (the host's, as the OS
 *   gives it), read in the transaction: every process on the file agrees on it, even one whose
 *   `Date.now` is faked or skewed, so no calendar period is split between processes.
 * - What can no longer count (emptied windows, ended periods, idle ledgers, old log rows) is
 *   dropped when its ledger is touched or swept through an index, a bounded batch per call.
 *
 * The schema is created on first open (it is embedded in the package; nothing to migrate by hand).
 *
 * @throws {ConfigurationError} for a bad argument or option, or a database whose schema version is
 * not {@link LAYOUT_VERSION}; {@link StoreError} if the database cannot be opened or its schema
 * created (a read-only file without the schema, a lock held longer than `openTimeoutMs`).
 * @example
 * import { Engine } from "budgetgate";
 * import { SqliteStore } from "budgetgate/sqlite";
 * const engine = new Engine({ store: new SqliteStore("./budgets.db") });
 */
export class SqliteStore implements Store {
  readonly #db: SqliteDatabase;
  readonly #owned: boolean;
  readonly #sql: Statements;
  readonly #tx: Transaction;
  readonly #deleteBatch: number;
  readonly #batcher: TickQueue<Queued> | undefined;
  #closed = false;

  constructor(database: string | SqliteDatabase, options: SqliteStoreOptions = {}) {
    const synchronous = options.synchronous ?? "full";
    if (synchronous !== "full" && synchronous !== "normal") {
      throw new ConfigurationError(`Invalid synchronous ${show(synchronous)}: expected "full" or "normal"`);
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
      throw new ConfigurationError(
        `Invalid SqliteStore prefix ${show(prefix)}: expected letters, digits and "_", not starting with a digit`,
      );
    }
    this.#deleteBatch = options.deleteBatch ?? 512;
    if (!Number.isSafeInteger(this.#deleteBatch) || this.#deleteBatch < 1) {
      throw new ConfigurationError(`Invalid deleteBatch ${show(options.deleteBatch)}: expected a whole number ≥ 1`);
    }
    const batch = options.batch ?? true;
    if (typeof batch !== "boolean") {
      throw new ConfigurationError(`Invalid batch ${show(options.batch)}: expected true or false`);
    }
    this.#batcher = batch ? sqliteBatcher<Queued>((calls) => this.#decideBatch(calls)) : undefined;
    const openTimeoutMs = options.openTimeoutMs ?? 5000;
    if (typeof openTimeoutMs !== "number" || !(openTimeoutMs >= 0)) {
      throw new ConfigurationError(`Invalid openTimeoutMs ${show(options.openTimeoutMs)}: expected a number ≥ 0`);
    }

    if (options.driver !== undefined && !SQLITE_DRIVERS.includes(options.driver)) {
      throw new ConfigurationError(
        `Invalid driver ${show(options.driver)}: expected ${SQLITE_DRIVERS.map((d) => `"${d}"`).join(", ")}`,
      );
    }

    if (typeof database === "string") {
      if (database === "") {
        throw new ConfigurationError(
          'Invalid database "": expected a file path, ":memory:" or a better-sqlite3 Database',
        );
      }
      try {
        this.#db = openDatabase(database, options.driver);
      } catch (error) {
        if (error instanceof ConfigurationError) throw error;
        throw new StoreError(`Cannot open SQLite database ${show(database)}: ${describeError(error)}`, {
          cause: error,
        });
      }
      this.#owned = true;
    } else if (isDatabase(database)) {
      this.#db = database;
      this.#owned = false;
    } else {
      throw new ConfigurationError(
        `Invalid database ${show(database)}: expected a file path, ":memory:" or a better-sqlite3 Database`,
      );
    }

    try {
      const names = tableNames(prefix);
      open(this.#db, synchronous, schemaSql(names), names.meta, Date.now() + openTimeoutMs);
      this.#sql = prepareStatements(this.#db, names);
      this.#tx = this.#db.transaction((work: () => unknown) => work());
    } catch (error) {
      if (this.#owned) this.#db.close();
      if (error instanceof BudgetGateError) throw error;
      throw new StoreError(`Cannot set up SQLite database ${show(this.#db.name)}: ${describeError(error)}`, {
        cause: error,
      });
    }
  }

  charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Awaitable<StoreVerdict> {
    return this.#run("charge", call, lines, (now) => {
      const accounts = this.#open(lines, now);
      const verdict = verdictOf(
        lines,
        accounts.map((account, i) => account.state((lines[i] as StoreLine).limits)),
        amount,
        now,
      );
      for (const account of accounts) {
        if (verdict.allowed) account.record(this.#sql, amount);
        account.save(this.#sql);
      }
      return verdict;
    });
  }

  reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Awaitable<StoreVerdict> {
    return this.#run("reserve", call, lines, (now) => {
      const accounts = this.#open(lines, now);
      const verdict = verdictOf(
        lines,
        accounts.map((account, i) => account.state((lines[i] as StoreLine).limits)),
        amount,
        now,
      );
      if (verdict.allowed) placeHold(this.#sql, accounts, amount, hold, now);
      for (const account of accounts) account.save(this.#sql);
      return verdict;
    });
  }

  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Awaitable<StoreCommit> {
    return this.#run("commit", call, lines, (now) => {
      const hold = findHold(this.#sql, id, now);
      const accounts = this.#open(lines, now);
      const states = accounts.map((account, i) => account.state((lines[i] as StoreLine).limits));
      const late = settleHold(this.#sql, hold, accounts);
      for (const account of accounts) {
        account.record(this.#sql, actual);
        account.save(this.#sql);
      }
      return { late, lines: states, now };
    });
  }

  /** Drops hold `id`; its row names its ledgers, so `_lines` is not needed. */
  release(id: string, _lines: readonly StoreLine[], call: StoreCall): Awaitable<StoreSettlement> {
    return this.#run("release", call, [], (now) => ({ late: settleHold(this.#sql, findHold(this.#sql, id, now)) }));
  }

  read(line: StoreLine, call: StoreCall): Awaitable<StoreReading> {
    return this.#run("read", call, [line], (now) => {
      const account = Account.load(this.#sql, line.key, false);
      // A ledger the store holds nothing for is not created by a read: nothing to count, nothing to keep.
      if (account === undefined) {
        return { state: { committed: line.limits.map(() => 0n), reserved: 0n, newest: null }, now };
      }
      account.open(this.#sql, now, line.limits);
      account.prune(this.#sql, this.#deleteBatch);
      account.save(this.#sql);
      return { state: account.state(line.limits), now };
    });
  }

  scan(query: StoreScanQuery, call: StoreCall): Awaitable<StorePage> {
    return this.#run("scan", call, [], (now) => {
      const { text, blob } = scanRanges(query.prefix, query.cursor);
      const rows: LedgerRow[] = text === null ? [] : this.#sql.scanText.all(text.from, text.below, query.limit);
      if (rows.length < query.limit && blob !== null) {
        const left = query.limit - rows.length;
        rows.push(
          ...(blob.below === null
            ? this.#sql.scanBlobFrom.all(blob.from, left)
            : this.#sql.scanBlob.all(blob.from, blob.below, left)),
        );
      }
      const entries = rows.map((row) => entryOf(this.#sql, row, now));
      const last = rows.at(-1);
      return { entries, cursor: rows.length === query.limit && last !== undefined ? keyOf(last.key) : null, now };
    });
  }

  clear(ledger: Ledger, call: StoreCall): Awaitable<void> {
    return this.#run("clear", call, [], () => {
      const id = this.#sql.deleteLedger.get(storedKey(ledger.toString()));
      if (id === undefined) return;
      this.#sql.deleteSpends.run(id);
      this.#sql.deleteTotals.run(id);
    });
  }

  clearAll(call: StoreCall): Awaitable<void> {
    return this.#run("clearAll", call, [], () => {
      this.#sql.clearHolds.run();
      this.#sql.clearSpends.run();
      this.#sql.clearTotals.run();
      this.#sql.clearLedgers.run();
    });
  }

  /**
   * Closes the database if the store opened it (a path was given); a Database passed in is left
   * open for its owner. Later calls fail with a StoreError.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) this.#db.close();
  }

  /** Loads (creating) the account of every line, brought to `now` with its totals, and prunes its log. */
  #open(lines: readonly StoreLine[], now: number): Account[] {
    return lines.map((line) => {
      const account = Account.load(this.#sql, line.key, true);
      account.open(this.#sql, now, line.limits);
      account.prune(this.#sql, this.#deleteBatch);
      return account;
    });
  }

  /**
   * Runs `work` in an immediate transaction: a batch's, or (`batch: false`) one of its own, at once.
   * Waits for the write lock until the call's deadline; any failure of the call rolls it back.
   */
  #run<T>(operation: string, call: StoreCall, lines: readonly StoreLine[], work: (now: number) => T): Awaitable<T> {
    let error: StoreError | undefined;
    if (this.#closed) error = closedError(operation);
    else if (call.now !== undefined && (typeof call.now !== "number" || !Number.isFinite(call.now))) {
      error = new StoreError(`SqliteStore ${operation}: invalid time ${show(call.now)}, expected finite seconds`);
    }
    const batcher = this.#batcher;
    if (batcher !== undefined) {
      if (error !== undefined) return Promise.reject(error);
      return new Promise<T>((resolve, reject) => {
        batcher.push({ operation, call, lines, work, resolve: resolve as (value: unknown) => void, reject });
      });
    }
    if (error !== undefined) throw error;
    const started = Date.now();
    try {
      return withWriteLock(
        () => this.#tx.immediate(() => this.#decide(operation, call, lines, work)) as T,
        call.deadline,
      );
    } catch (failure) {
      throw this.#classify(operation, call, failure, Date.now() - started);
    }
  }

  /**
   * Decides a batch in one transaction, waiting for the write lock until the last of its calls'
   * deadlines, and settles every call: with its answer, with its own error (its savepoint rolled
   * back), or — when the transaction as a whole failed (no lock in time, a failed commit) — with
   * that error, nothing of the batch written.
   */
  #decideBatch(batch: readonly Queued[]): void {
    if (this.#closed) {
      for (const queued of batch) queued.reject(closedError(queued.operation));
      return;
    }
    const started = Date.now();
    const deadline = Math.max(...batch.map((queued) => queued.call.deadline));
    let outcomes: Outcome[];
    try {
      outcomes = withWriteLock(
        () => this.#tx.immediate(() => batch.map((queued) => this.#inSavepoint(queued))) as Outcome[],
        deadline,
      );
    } catch (error) {
      for (const queued of batch)
        queued.reject(this.#classify(queued.operation, queued.call, error, Date.now() - started));
      return;
    }
    outcomes.forEach((outcome, i) => {
      const queued = batch[i] as Queued;
      if (outcome.ok) queued.resolve(outcome.value);
      else queued.reject(this.#classify(queued.operation, queued.call, outcome.error, Date.now() - started));
    });
  }

  /** One call of a batch, in a savepoint: rolled back alone if it fails. */
  #inSavepoint(queued: Queued): Outcome {
    this.#sql.savepoint.run();
    let outcome: Outcome;
    try {
      outcome = { ok: true, value: this.#decide(queued.operation, queued.call, queued.lines, queued.work) };
    } catch (error) {
      try {
        this.#sql.rollbackToSavepoint.run();
      } catch {
        // SQLite ended the whole transaction itself (a full disk may): no call of the batch stands.
        throw error;
      }
      outcome = { ok: false, error };
    }
    this.#sql.releaseSavepoint.run();
    return outcome;
  }

  /**
   * One call's work, inside its transaction: does nothing if the deadline has passed, so that a
   * call never takes effect after the engine would have given up. Then reads the time, checks that
   * every calendar window of `lines` has a period for it, expires due holds and sweeps idle
   * ledgers, and runs `work`.
   */
  #decide<T>(operation: string, call: StoreCall, lines: readonly StoreLine[], work: (now: number) => T): T {
    if (Date.now() > call.deadline) throw new StoreTimeoutError(operation, call.timeoutMs);
    // Read once the lock is held: a spend is dated when it is recorded, not when it queued.
    const now = call.now ?? (this.#sql.now.get() as number) / 1000;
    checkPeriods(this.#sql, lines, now);
    expireHolds(this.#sql, now);
    sweepLedgers(this.#sql, now, this.#deleteBatch);
    return work(now);
  }

  /** Sorts a failed call by the error contract of {@link Store}; every one was rolled back. */
  #classify(operation: string, call: StoreCall, error: unknown, waitedMs: number): unknown {
    if (error instanceof BudgetGateError) return error;
    const where = `SqliteStore ${operation} on ${show(this.#db.name)}`;
    if (isBusy(error)) {
      return new StoreTimeoutError(
        operation,
        call.timeoutMs,
        `${show(this.#db.name)} stayed locked by another connection for ${waitedMs} ms; nothing was written`,
        { cause: error },
      );
    }
    const code = resultCode(error);
    const message = describeError(error);
    if (code !== null) {
      if (/no such (table|column|index)/.test(message)) {
        return new ConfigurationError(
          `${where}: ${message}: the store's tables were dropped or altered after it opened the database; open a new SqliteStore to create them`,
          { cause: error },
        );
      }
      if (STATE_CODES.test(code)) {
        return new StateError(`${where}: the database cannot be read or hold the value (${message})`, {
          cause: error,
        });
      }
      return new StoreError(`${where} failed: ${message}; nothing was written`, { cause: error });
    }
    if ((this.#db as { open?: unknown }).open === false) {
      return new StoreError(`${where} failed: the database was closed by its owner`, { cause: error });
    }
    // A total or amount that does not parse: a row written by something else.
    if (error instanceof SyntaxError) {
      return new StateError(`${where}: unreadable row (${message}); nothing was written`, { cause: error });
    }
    return error;
  }
}

/**
 * Checks, before anything is written, that every calendar window of every line has a period for
 * the ledger's time (`max(now, newest)`).
 * @throws {PeriodRangeError} from {@link currentPeriod} if one has not.
 */
function checkPeriods(sql: Statements, lines: readonly StoreLine[], now: number): void {
  for (const line of lines) {
    let time: number | undefined;
    for (const limit of line.limits) {
      if (limit.window.kind !== "calendar") continue;
      if (time === undefined) {
        const newest = sql.newestByKey.get(storedKey(line.key));
        time = typeof newest === "number" && newest > now ? newest : now;
      }
      currentPeriod(limit.window, time);
    }
  }
}

/** One ledger as `scan` lists it, at the ledger's time. */
function entryOf(sql: Statements, row: LedgerRow, now: number): StoreLedgerEntry {
  const key = keyOf(row.key);
  let ledger: Ledger;
  try {
    ledger = Ledger.parse(key);
  } catch (error) {
    throw new StateError(`SqliteStore scan: the ledgers table holds ${show(key)}, which is not a ledger's key`, {
      cause: error,
    });
  }
  const account = Account.from(sql, row);
  account.open(sql, now);
  const windows = [];
  for (const total of account.totals.values()) {
    if (total.change !== "drop") windows.push({ id: total.id, committed: account.total - total.base });
  }
  return { ledger, reserved: account.reserved, windows };
}

/** What a call gets from a closed store: at once, or when its batch comes up after the close. */
function closedError(operation: string): StoreError {
  return new StoreError(`SqliteStore ${operation}: the store is closed`);
}

/** Result codes that say the data, not the backend, is the problem. */
const STATE_CODES = /^SQLITE_(CORRUPT|NOTADB|MISMATCH|CONSTRAINT|TOOBIG|RANGE|FORMAT)/;

/** Sets the connection up and creates the schema if the database has none. */
function open(db: SqliteDatabase, synchronous: string, ddl: string, meta: string, deadline: number): void {
  // Lock waits are bounded per call by withWriteLock; SQLite's own handler would block past them.
  db.pragma("busy_timeout = 0");
  if (!db.memory && !db.readonly && db.pragma("journal_mode", { simple: true }) !== "wal") {
    const mode = withWriteLock(() => db.pragma("journal_mode = WAL", { simple: true }), deadline);
    if (mode !== "wal") {
      throw new StoreError(`Cannot put SQLite database ${show(db.name)} in WAL mode (got ${show(mode)})`);
    }
  }
  db.pragma(`synchronous = ${synchronous}`);
  let version = schemaVersion(db, meta);
  if (version === undefined) {
    const create = db.transaction((work) => work());
    withWriteLock(() => create.immediate(() => db.exec(ddl)), deadline);
    version = schemaVersion(db, meta);
  }
  if (version !== String(LAYOUT_VERSION)) {
    throw new ConfigurationError(
      `SQLite database ${show(db.name)} has budgetgate schema version ${show(version)} in table ${show(meta)}; this version of budgetgate reads version ${LAYOUT_VERSION}. Open it with the budgetgate version that wrote it, or give this one tables of its own (option prefix)`,
    );
  }
}

function schemaVersion(db: SqliteDatabase, meta: string): string | undefined {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(meta);
  if (exists === undefined) return undefined;
  return db.prepare(`SELECT value FROM "${meta}" WHERE key = 'schema'`).pluck().get() as string | undefined;
}

function isDatabase(value: unknown): value is SqliteDatabase {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as SqliteDatabase).prepare === "function" &&
    typeof (value as SqliteDatabase).transaction === "function"
  );
}
