/**
 * `budgetgate/postgres`: a store shared by every process that reaches one PostgreSQL database.
 *
 * Every call is one statement calling a PL/pgSQL function that `migrate()` created. The function
 * locks the call's ledger rows (`SELECT … FOR UPDATE`, in one global order: by key), reads the
 * window's spend from running totals, checks, records, and commits — or records nothing. Charges,
 * reserves and reads in flight together go as one batch: one round trip, one transaction and one
 * commit, each call decided in order in a savepoint of its own (see decide_many in schema.ts and
 * batch.ts), so that 32 callers on one hot ledger wait for one commit, not for 32 in turn.
 *
 * Why row locks rather than SERIALIZABLE with retries: every charge of one ledger conflicts with
 * every other by nature (they read and write the same total), so under contention serialisable
 * transactions would mostly fail and retry, each retry another round trip; a row lock queues them
 * instead, and READ COMMITTED with the lock held sees the latest committed total. Locking in key
 * order makes several-ledger charges deadlock-free.
 *
 * @module budgetgate/postgres
 */
import {
  BudgetGateError,
  ConfigurationError,
  Ledger,
  PeriodRangeError,
  ReservationNotFoundError,
  StateError,
  StoreError,
  StoreTimeoutError,
} from "budgetgate";
import {
  describeError,
  type Hold,
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
  show,
} from "budgetgate/store";
import { postgresBatcher } from "./batch.js";
import {
  type PostgresClient,
  type PostgresDriver,
  type PostgresRow,
  type PostgresSession,
  toDriver,
} from "./driver.js";
import { keyOfStored, storedKey, storedRange } from "./keys.js";
import { type PostgresNames, postgresNames } from "./names.js";
import {
  AGAIN_SQLSTATE,
  LAYOUT_VERSION,
  NOT_FOUND_SQLSTATE,
  PERIOD_RANGE_SQLSTATE,
  postgresSchema,
  type SchemaObjects,
  schemaObjects,
  VERSION_COMMENT,
} from "./schema.js";

export type {
  PgClientLike,
  PgPoolLike,
  PostgresClient,
  PostgresDriver,
  PostgresJsLike,
  PostgresJsReserved,
  PostgresRow,
  PostgresSession,
} from "./driver.js";
export { DEFAULT_PREFIX, type PostgresNames } from "./names.js";
export { LAYOUT_VERSION, postgresSchema } from "./schema.js";

/**
 * Options of {@link PostgresStore}.
 *
 * @example
 * new PostgresStore(pool, { prefix: "acme_budget", schema: "billing", marginMs: 50 });
 */
export interface PostgresStoreOptions {
  /** Prefix of the store's tables and functions. Default `"budgetgate"` (`budgetgate_ledgers`, …). */
  readonly prefix?: string;
  /** Schema holding them. Default: none, so the connection's `search_path` decides. */
  readonly schema?: string;
  /**
   * Milliseconds of each call's remaining time kept back for the commit and the reply: the server
   * gives up (rolls back) that long before the engine does. Default: a tenth of the engine's
   * `storeTimeoutMs`, at least 1 ms.
   */
  readonly marginMs?: number;
}

type Statements = Pick<SchemaObjects, "decide" | "decideMany" | "commit" | "release" | "scan" | "clear" | "clearAll">;

/** A charge, reserve or read waiting in the batcher for its answer row. */
interface Queued {
  readonly operation: "charge" | "reserve" | "read";
  readonly flat: LineParams;
  readonly amount: string;
  readonly hold: Hold | null;
  readonly call: StoreCall;
  resolve(answer: PostgresRow): void;
  reject(error: unknown): void;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Spend state in PostgreSQL, shared by every process that uses the same tables: exact (NUMERIC),
 * atomic under any number of connections and processes (row locks taken in key order), one round
 * trip per call — per batch of calls in flight together, for charges, reserves and reads, each
 * still all-or-nothing on its own — and constant work per decision however long the history
 * (running totals; expired rows deleted a bounded batch at a time).
 *
 * Create the schema once with {@link migrate} — nothing is created implicitly. Time is the
 * server's `clock_timestamp()` unless the engine has a clock. A call the engine gave up on rolls
 * back on the server: lock waits are bounded by `lock_timeout` and the function checks its
 * remaining time before it commits.
 *
 * Errors: an unreachable server, a dropped connection, a server-side failure (SQLSTATE classes
 * 08, 40, 53, 55, 57, 58, XX) and a call past its deadline (lock_timeout, or out of time: then a
 * {@link StoreTimeoutError}) are {@link StoreError}s, decided by `onStoreError`. A schema that
 * `migrate()` has not created, a missing privilege (class 42, 3F) is a {@link ConfigurationError};
 * a value PostgreSQL refuses to hold or an unreadable answer is a {@link StateError}. Both are
 * thrown to the caller and change nothing.
 *
 * @throws {ConfigurationError} from the constructor for an invalid client, prefix or schema.
 * @example
 * import pg from "pg";
 * import { PostgresStore } from "budgetgate/postgres";
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const store = new PostgresStore(pool);
 * await store.migrate();
 * const engine = new Engine({ store });
 */
export class PostgresStore implements Store {
  /** The tables and functions this store uses. */
  readonly names: PostgresNames;
  readonly #driver: PostgresDriver;
  readonly #objects: SchemaObjects;
  readonly #sql: Statements;
  readonly #marginMs: number | undefined;
  /** Set once the tables are known to be of {@link LAYOUT_VERSION}: checked on the first call. */
  #versionChecked = false;
  readonly #batcher = postgresBatcher<Queued>((batch) => this.#decideBatch(batch));

  constructor(client: PostgresClient, options: PostgresStoreOptions = {}) {
    this.#driver = toDriver(client);
    this.names = postgresNames(options);
    const margin = options.marginMs;
    if (margin !== undefined && (typeof margin !== "number" || !Number.isFinite(margin) || margin < 0)) {
      throw new ConfigurationError(
        `Invalid PostgresStore marginMs ${show(margin)}: expected a number of milliseconds ≥ 0`,
      );
    }
    this.#marginMs = margin;
    const o = schemaObjects(this.names);
    this.#objects = o;
    // The lines' parameters, flattened per limit: see LineParams.
    const lines = (first: number) =>
      ["text[]", "int[]", "text[]", "float8[]", "int[]", "float8[]"]
        .map((type, i) => `$${first + i}::${type}`)
        .join(", ");
    this.#sql = {
      decide: `SELECT allowed, committed, reserved, newest, now FROM ${o.decide}(${lines(1)}, $7::numeric[], $8::int[], $9::numeric, $10::float8, $11::float8, $12::text, $13::float8, $14::float8, $15::boolean, NULL)`,
      decideMany: `SELECT allowed, committed, reserved, newest, now, state, message, detail, hint FROM ${o.decideMany}($1::int[], $2::int[], $3::int[], ${lines(4)}, $10::numeric[], $11::int[], $12::numeric[], $13::float8[], $14::float8[], $15::text[], $16::float8[], $17::float8[], $18::int[], $19::text[], $20::int[])`,
      commit: `SELECT late, committed, reserved, newest, now FROM ${o.commit}($1::text, ${lines(2)}, $8::numeric, $9::float8, $10::float8)`,
      release: `SELECT late FROM ${o.release}($1::text, $2::float8, $3::float8)`,
      // One row even for an empty page, to carry the time.
      scan: `SELECT s.key, s.reserved, s.ids, s.committed, t.now FROM (SELECT coalesce($5::float8, date_part('epoch', clock_timestamp())) AS now) t LEFT JOIN LATERAL ${o.scan}($1::text, $2::text, $3::text, $4::int, t.now) s ON true`,
      clear: `SELECT ${o.clear}($1::text, $2::float8)`,
      clearAll: `SELECT ${o.clearAll}($1::float8)`,
    };
  }

  /**
   * Creates or updates the tables and functions, idempotently, in one transaction under an
   * advisory lock (so that processes starting together may all call it). The SQL is
   * {@link postgresSchema}'s.
   *
   * @throws the server's error if the role may not create them; nothing is then changed.
   * @example
   * await new PostgresStore(pool, { prefix: "acme_budget" }).migrate();
   */
  async migrate(): Promise<void> {
    const session = await this.#driver.acquire();
    let broken = false;
    try {
      // Before migrating, which would record this version over another's.
      await this.#checkVersion(session);
      const lockKey = `budgetgate migrate ${this.#objects.ledgers}`.replaceAll("'", "");
      await session.script(
        `BEGIN;\nSELECT pg_advisory_xact_lock(hashtext('${lockKey}'));\n${postgresSchema({
          prefix: this.names.prefix,
          ...(this.names.schema === null ? {} : { schema: this.names.schema }),
        })}\nCOMMIT;`,
      );
    } catch (error) {
      if (error instanceof ConfigurationError) throw error; // from the version check: no transaction open
      broken = true; // the connection may be inside the failed transaction: never reuse it
      throw error;
    } finally {
      session.release(broken);
    }
  }

  async charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Promise<StoreVerdict> {
    return this.#decide("charge", lines, amount, null, call);
  }

  async reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Promise<StoreVerdict> {
    return this.#decide("reserve", lines, amount, hold, call);
  }

  async commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<StoreCommit> {
    const flat = lineParams(lines);
    const rows = await this.#run("commit", this.#sql.commit, call, id, (budget) => [
      id,
      ...flat.params,
      actual.toString(),
      call.now ?? null,
      budget,
    ]);
    const answer = row(rows);
    return { late: answer.late === true, lines: states(answer, flat), now: timeOf(answer) };
  }

  /** Drops hold `id`; its row names its ledgers, so `_lines` is not needed. */
  async release(id: string, _lines: readonly StoreLine[], call: StoreCall): Promise<StoreSettlement> {
    const rows = await this.#run("release", this.#sql.release, call, id, (budget) => [id, call.now ?? null, budget]);
    return { late: row(rows).late === true };
  }

  /**
   * Reads without a lock or a write while the ledger already keeps every total the line names (in
   * their current periods); otherwise makes them, as a charge of nothing would, in the same call.
   */
  async read(line: StoreLine, call: StoreCall): Promise<StoreReading> {
    const flat = lineParams([line]);
    const answer = await this.#queue("read", flat, 0n, null, call);
    return { state: states(answer, flat)[0] as StoreLedgerState, now: timeOf(answer) };
  }

  /**
   * A keyset page on the ledgers' key index: keys in the prefix's exact bytewise range, after the
   * cursor (the last stored key of the previous page), one more than asked to know whether another
   * page follows.
   */
  async scan(query: StoreScanQuery, call: StoreCall): Promise<StorePage> {
    const range = storedRange(query.prefix);
    const rows = await this.#run("scan", this.#sql.scan, call, null, () => [
      range.from,
      range.to,
      query.cursor,
      query.limit + 1,
      call.now ?? null,
    ]);
    const now = timeOf(row(rows));
    const listed = rows.filter((answer) => answer.key !== null);
    const page = listed.slice(0, query.limit);
    const entries: StoreLedgerEntry[] = [];
    for (const answer of page) {
      const stored = answer.key;
      const ids = answer.ids;
      const committed = answer.committed;
      if (
        typeof stored !== "string" ||
        !Array.isArray(ids) ||
        !Array.isArray(committed) ||
        ids.length !== committed.length
      ) {
        throw unreadable("a ledger's key, window ids and totals", answer);
      }
      const key = keyOfStored(stored);
      if (!key.startsWith(query.prefix)) continue; // only when the prefix ends in a high surrogate
      let ledger: Ledger;
      try {
        ledger = Ledger.parse(key);
      } catch (error) {
        throw new StateError(`PostgresStore: the stored ledger key ${show(stored)} is not a ledger's key`, {
          cause: error,
        });
      }
      entries.push({
        ledger,
        reserved: toUnits(answer.reserved, answer),
        windows: ids.map((id, k) => {
          if (typeof id !== "string") throw unreadable("window ids", answer);
          return { id, committed: toUnits(committed[k], answer) };
        }),
      });
    }
    const last = page[page.length - 1];
    return {
      entries,
      cursor: listed.length > query.limit && last !== undefined ? (last.key as string) : null,
      now,
    };
  }

  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    await this.#run("clear", this.#sql.clear, call, null, (budget) => [storedKey(ledger.toString()), budget]);
  }

  async clearAll(call: StoreCall): Promise<void> {
    await this.#run("clearAll", this.#sql.clearAll, call, null, (budget) => [budget]);
  }

  async #decide(
    operation: "charge" | "reserve",
    lines: readonly StoreLine[],
    amount: bigint,
    hold: Hold | null,
    call: StoreCall,
  ): Promise<StoreVerdict> {
    const flat = lineParams(lines);
    const answer = await this.#queue(operation, flat, amount, hold, call);
    return { allowed: answer.allowed === true, lines: states(answer, flat), now: timeOf(answer) };
  }

  #queue(
    operation: Queued["operation"],
    flat: LineParams,
    amount: bigint,
    hold: Hold | null,
    call: StoreCall,
  ): Promise<PostgresRow> {
    return new Promise((resolve, reject) => {
      this.#batcher.push({ operation, flat, amount: amount.toString(), hold, call, resolve, reject });
    });
  }

  /**
   * Decides a batch in one statement, and settles every call of it: with its row, with its own
   * error (rolled back alone), or — for a failure of the whole statement — with that error, all
   * rolled back. A call the batch did not decide for lack of the others' time is queued again.
   */
  async #decideBatch(batch: Queued[]): Promise<void> {
    const sent: Queued[] = [];
    const operations = [...new Set(batch.map((queued) => queued.operation))].join("/");
    try {
      await this.#session(operations, async (session) => {
        const budgets: number[] = [];
        for (const queued of batch) {
          const budget = this.#budgetOf(queued.call);
          if (budget > 0 && !queued.call.signal.aborted) {
            sent.push(queued);
            budgets.push(budget);
          } else {
            queued.reject(tooLateToSend(queued.operation, queued.call));
          }
        }
        const [lone] = sent;
        if (lone === undefined) return;
        if (sent.length === 1) {
          // Alone, a call is its own transaction: what fails is its failure, with no pass to redo;
          // and decide_many's subtransaction and answer arrays cost it 1.24× decide's round trip
          // (422 µs against 340, synchronous_commit off, medians of 10 alternating rounds).
          const hold = lone.hold;
          const answer = row(
            await session.query(`${this.#objects.ledgers}:decide`, this.#sql.decide, [
              ...lone.flat.params,
              lone.flat.max,
              lone.flat.enforce,
              lone.amount,
              lone.call.now ?? null,
              budgets[0],
              hold?.id ?? null,
              hold?.ttl ?? null,
              hold?.retain ?? null,
              lone.operation === "read",
            ]),
          );
          lone.resolve(answer);
          return;
        }
        const rows = await session.query(
          `${this.#objects.ledgers}:decide_many`,
          this.#sql.decideMany,
          batchParams(sent, budgets),
        );
        if (rows.length !== sent.length) {
          throw new StateError(`PostgresStore: the server answered ${rows.length} rows for ${sent.length} calls`);
        }
        const again: Queued[] = [];
        rows.forEach((answer, i) => {
          const queued = sent[i] as Queued;
          const state = answer.state;
          if (state === null || state === undefined) queued.resolve(answer);
          else if (state === AGAIN_SQLSTATE) again.push(queued);
          else queued.reject(classify(queued.operation, callError(answer), String(state), null, queued.call.timeoutMs));
        });
        if (again.length > 0) this.#batcher.pushFront(again);
      });
    } catch (error) {
      const sqlstate = sqlstateOf(error);
      for (const queued of sent.length > 0 ? sent : batch) {
        queued.reject(classify(queued.operation, error, sqlstate, null, queued.call.timeoutMs));
      }
    }
  }

  /**
   * Refuses tables that another version of budgetgate created: their comment records the version.
   * Tables not there yet pass (migrate() creates them; a call then names migrate()).
   * @throws {ConfigurationError} naming the version found and this one's.
   */
  async #checkVersion(session: PostgresSession): Promise<void> {
    const ledgers = this.#objects.ledgers;
    const rows = await session.query(
      `${ledgers}:version`,
      "SELECT to_regclass($1::text) IS NOT NULL AS present, obj_description(to_regclass($1::text), 'pg_class') AS comment",
      [ledgers],
    );
    const answer = row(rows);
    if (answer.present !== true) return;
    if (answer.comment === VERSION_COMMENT) {
      this.#versionChecked = true;
      return;
    }
    const found = typeof answer.comment === "string" ? /^budgetgate schema (.*)$/.exec(answer.comment)?.[1] : undefined;
    throw new ConfigurationError(
      `PostgresStore: table ${ledgers} holds ${found === undefined ? `no budgetgate schema version (its comment is ${show(answer.comment)})` : `budgetgate schema version ${show(found)}`}; this version of budgetgate reads version ${LAYOUT_VERSION}. Use it with the budgetgate version that created it, or give this one tables of its own (option prefix or schema) and migrate() them`,
    );
  }

  /**
   * Runs one statement on a connection of its own. The time budget is computed once the
   * connection is in hand, so that time spent queueing for it counts against the caller's deadline;
   * a call whose deadline passed meanwhile is never sent.
   */
  async #run(
    operation: string,
    text: string,
    call: StoreCall,
    holdId: string | null,
    params: (budgetMs: number) => readonly unknown[],
  ): Promise<readonly PostgresRow[]> {
    try {
      return await this.#session(operation, (session) => {
        const budget = this.#budgetOf(call);
        if (budget <= 0 || call.signal.aborted) throw tooLateToSend(operation, call);
        return session.query(`${this.#objects.ledgers}:${operation}`, text, params(budget));
      });
    } catch (error) {
      throw classify(operation, error, sqlstateOf(error), holdId, call.timeoutMs);
    }
  }

  /** Milliseconds the server may spend on a call: what is left of it, less the margin. */
  #budgetOf(call: StoreCall): number {
    const margin = this.#marginMs ?? Math.max(1, call.timeoutMs / 10);
    return call.deadline - Date.now() - margin;
  }

  /**
   * Runs `work` on a connection of its own, once the tables' version is known to be right, and
   * gives the connection back — to be dropped if a failure may have left it unusable.
   * @throws a {@link StoreError} for no connection, else what `work` threw, as it threw it.
   */
  async #session<T>(operation: string, work: (session: PostgresSession) => Promise<T>): Promise<T> {
    let session: PostgresSession;
    try {
      session = await this.#driver.acquire();
    } catch (error) {
      throw new StoreError(`PostgresStore ${operation}: no connection to PostgreSQL (${describeError(error)})`, {
        cause: error,
      });
    }
    let broken = false;
    try {
      if (!this.#versionChecked) await this.#checkVersion(session);
      return await work(session);
    } catch (error) {
      // A statement the server answered leaves the connection usable; anything else may not.
      broken = sqlstateOf(error) === undefined && !(error instanceof BudgetGateError);
      throw error;
    } finally {
      session.release(broken);
    }
  }
}

/** A call whose deadline passed (or that the engine gave up on) before a connection was free. */
function tooLateToSend(operation: string, call: StoreCall): StoreTimeoutError {
  return new StoreTimeoutError(
    operation,
    call.timeoutMs,
    "the deadline passed before a connection was free; nothing was sent",
  );
}

/** The SQLSTATE of a server's error; undefined for any other failure. */
function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && SQLSTATE.test(code) ? code : undefined;
}

function row(rows: readonly PostgresRow[]): PostgresRow {
  const first = rows[0];
  if (first === undefined) throw new StateError("PostgresStore: the server answered with no row");
  return first;
}

/**
 * A call's lines as the functions take them: per line its stored key; per limit (all lines'
 * limits in order) its line (1-based), window id, rolling seconds (or null), number of calendar
 * boundaries (0 for other windows), and the boundaries themselves, concatenated; the limits'
 * maxSpend and enforce as decide() also takes them.
 */
interface LineParams {
  /** `[keys, line, ids, seconds, boundary counts, boundaries]`. */
  readonly params: readonly [string[], number[], string[], (number | null)[], number[], number[]];
  readonly max: string[];
  readonly enforce: number[];
  /** Limits per line, to split the answer's committed array. */
  readonly counts: number[];
}

function lineParams(lines: readonly StoreLine[]): LineParams {
  const keys: string[] = [];
  const line: number[] = [];
  const ids: string[] = [];
  const seconds: (number | null)[] = [];
  const counts: number[] = [];
  const bounds: number[] = [];
  const nb: number[] = [];
  const max: string[] = [];
  const enforce: number[] = [];
  lines.forEach((l, i) => {
    keys.push(storedKey(l.key));
    counts.push(l.limits.length);
    for (const limit of l.limits) {
      const window = limit.window;
      line.push(i + 1);
      ids.push(window.id);
      seconds.push(window.kind === "rolling" ? window.seconds : null);
      if (window.kind === "calendar") {
        nb.push(window.boundaries.length);
        bounds.push(...window.boundaries);
      } else {
        nb.push(0);
      }
      max.push(limit.maxSpend.toString());
      enforce.push(limit.enforce ? 1 : 0); // postgres.js sends a boolean[] as one boolean
    }
  });
  return { params: [keys, line, ids, seconds, nb, bounds], max, enforce, counts };
}

/**
 * decide_many's parameters for a batch: per call its numbers of keys, limits and boundaries, then
 * the calls' lines concatenated as lineParams makes them, then one element per call of the rest,
 * the keys the batch will lock (those of every call but a read), and the runs: per call the number
 * of calls in the run it starts (1 for a call alone), 0 for a charge that continues the run of the
 * charges before it.
 */
function batchParams(batch: readonly Queued[], budgets: readonly number[]): unknown[] {
  const counts: [number[], number[], number[]] = [[], [], []];
  const lines: unknown[][] = [[], [], [], [], [], [], [], []];
  const calls: unknown[][] = [[], [], [], [], [], [], []];
  const locked = new Set<string>();
  const runs: number[] = [];
  let head = -1;
  batch.forEach((queued, i) => {
    const previous = batch[i - 1];
    if (previous !== undefined && head >= 0 && sameCharge(previous, queued)) {
      runs[head] = (runs[head] ?? 0) + 1;
      runs.push(0);
    } else {
      head = queued.operation === "charge" ? i : -1;
      runs.push(1);
    }
    const { params, max, enforce } = queued.flat;
    counts[0].push(params[0].length);
    counts[1].push(params[1].length);
    counts[2].push(params[5].length);
    [...params, max, enforce].forEach((values, j) => {
      lines[j]?.push(...values);
    });
    const hold = queued.hold;
    const read = queued.operation === "read";
    [
      queued.amount,
      queued.call.now ?? null,
      budgets[i],
      hold?.id ?? null,
      hold?.ttl ?? null,
      hold?.retain ?? null,
      read ? 1 : 0,
    ].forEach((value, j) => {
      calls[j]?.push(value);
    });
    if (!read) for (const key of params[0]) locked.add(key);
  });
  // One call locks its own ledgers in key order; only several need locking first.
  return [...counts, ...lines, ...calls, batch.length > 1 ? [...locked] : [], runs];
}

/**
 * Whether `next` is a charge on the same lines as the charge `previous`, at the same time: then
 * one decide() decides both, in order, loading and writing their ledgers once.
 */
function sameCharge(previous: Queued, next: Queued): boolean {
  if (next.operation !== "charge" || previous.operation !== "charge" || previous.call.now !== next.call.now) {
    return false;
  }
  const a = previous.flat;
  const b = next.flat;
  if (a === b) return true;
  const same = (x: readonly unknown[], y: readonly unknown[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.params.every((values, i) => same(values, b.params[i] as readonly unknown[])) &&
    same(a.max, b.max) &&
    same(a.enforce, b.enforce)
  );
}

/** A call's own error, as decide_many answered it in the call's row. */
function callError(answer: PostgresRow): Error {
  const { state, message, detail, hint } = answer;
  return Object.assign(new Error(typeof message === "string" ? message : `SQLSTATE ${show(state)}`), {
    code: state,
    detail,
    hint,
  });
}

/** Each line's state from an answer's committed (per limit), reserved and newest (per line). */
function states(answer: PostgresRow, flat: LineParams): StoreLedgerState[] {
  const { committed, reserved, newest } = answer;
  if (
    !Array.isArray(committed) ||
    !Array.isArray(reserved) ||
    !Array.isArray(newest) ||
    reserved.length !== flat.counts.length ||
    newest.length !== flat.counts.length ||
    committed.length !== flat.counts.reduce((sum, n) => sum + n, 0)
  ) {
    throw unreadable("committed per limit, reserved and newest per line", answer);
  }
  let next = 0;
  return flat.counts.map((n, i) => {
    const mine = committed.slice(next, next + n).map((units) => toUnits(units, answer));
    next += n;
    const time = newest[i];
    const at = typeof time === "string" ? Number(time) : time;
    if (at !== null && typeof at !== "number") throw unreadable("newest", answer);
    // postgres.js reads a NULL inside a float8[] as NaN; no time the store keeps is NaN.
    return { committed: mine, reserved: toUnits(reserved[i], answer), newest: Number.isNaN(at) ? null : at };
  });
}

function timeOf(answer: PostgresRow): number {
  const value = answer.now;
  const now = typeof value === "string" ? Number(value) : value;
  if (typeof now !== "number" || !Number.isFinite(now)) throw unreadable("now", answer);
  return now;
}

function toUnits(value: unknown, answer: PostgresRow): bigint {
  if (typeof value === "string" && /^\d+$/.test(value)) return BigInt(value);
  throw unreadable("amounts", answer);
}

function unreadable(what: string, answer: PostgresRow): StateError {
  return new StateError(
    `PostgresStore: the server answered ${show(answer)}: expected ${what} (amounts as whole numbers of 10^-18 units)`,
  );
}

/** SQLSTATE classes that mean the server or the connection failed, not the statement. */
const OUTAGE_CLASSES = new Set(["08", "40", "53", "55", "57", "58", "XX"]);

/**
 * Sorts a failure by the error contract of {@link Store}: an outage is a StoreError (a deadline a
 * StoreTimeoutError), a schema or privilege problem a ConfigurationError, a statement the server
 * refused for its data a StateError. The driver's error is kept as the cause.
 */
function classify(
  operation: string,
  error: unknown,
  sqlstate: string | undefined,
  holdId: string | null,
  timeoutMs: number,
): Error {
  if (error instanceof BudgetGateError) return error;
  const message = describeError(error);
  if (sqlstate === undefined) {
    return new StoreError(`PostgresStore ${operation} failed: ${message}`, { cause: error });
  }
  if (sqlstate === NOT_FOUND_SQLSTATE && holdId !== null) return new ReservationNotFoundError(holdId);
  if (sqlstate === PERIOD_RANGE_SQLSTATE) {
    const { detail, hint } = error as { detail?: unknown; hint?: unknown };
    const now = typeof hint === "string" ? Number(hint) : Number.NaN;
    if (typeof detail === "string" && Number.isFinite(now)) return new PeriodRangeError(detail, now);
  }
  if (sqlstate === "55P03" || sqlstate === "57014") {
    return new StoreTimeoutError(operation, timeoutMs, `PostgreSQL gave up and rolled back (${message})`, {
      cause: error,
    });
  }
  const group = sqlstate.slice(0, 2);
  if (OUTAGE_CLASSES.has(group)) {
    return new StoreError(`PostgresStore ${operation} failed on the server: ${message}`, { cause: error });
  }
  if (group === "42" || group === "3F") {
    return new ConfigurationError(
      `PostgresStore ${operation}: ${message}. Create the schema, with this role's rights, first: await store.migrate() (or apply postgresSchema())`,
      { cause: error },
    );
  }
  return new StateError(`PostgresStore ${operation}: PostgreSQL refused the data: ${message}; nothing was written`, {
    cause: error,
  });
}
