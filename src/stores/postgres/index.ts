/**
 * `budgetgate/postgres`: a store shared by every process that reaches one PostgreSQL database.
 *
 * Every call is one round trip: one statement calling a PL/pgSQL function that `migrate()` created,
 * run as its own transaction. The function locks the call's ledger rows (`SELECT … FOR UPDATE`, in
 * one global order: by key), reads the window's spend from running totals, checks, records, and
 * commits — or records nothing.
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
  type Ledger,
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
  type StoreLine,
  type StoreSettlement,
  type StoreVerdict,
  show,
} from "budgetgate/store";
import {
  type PostgresClient,
  type PostgresDriver,
  type PostgresRow,
  type PostgresSession,
  toDriver,
} from "./driver.js";
import { storedKey } from "./keys.js";
import { type PostgresNames, postgresNames } from "./names.js";
import {
  LAYOUT_VERSION,
  NOT_FOUND_SQLSTATE,
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

type Statements = Pick<SchemaObjects, "decide" | "commit" | "release" | "spent" | "clear" | "clearAll">;

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Spend state in PostgreSQL, shared by every process that uses the same tables: exact (NUMERIC),
 * atomic under any number of connections and processes (row locks taken in key order), one round
 * trip per call, and constant work per decision however long the history (running totals; expired
 * rows deleted a bounded batch at a time).
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
    this.#sql = {
      decide: `SELECT allowed, spent FROM ${o.decide}($1::text[], $2::numeric[], $3::float8[], $4::numeric, $5::float8, $6::float8, $7::text, $8::float8, $9::float8)`,
      commit: `SELECT late FROM ${o.commit}($1::text, $2::text[], $3::float8[], $4::numeric, $5::float8, $6::float8)`,
      release: `SELECT late FROM ${o.release}($1::text, $2::float8, $3::float8)`,
      spent: `SELECT ${o.spent}($1::text, $2::float8, $3::float8) AS spent`,
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
    return this.#decide(lines, amount, null, call);
  }

  async reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Promise<StoreVerdict> {
    return this.#decide(lines, amount, hold, call);
  }

  async commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<StoreSettlement> {
    const rows = await this.#run("commit", this.#sql.commit, call, id, (budget) => [
      id,
      lines.map((line) => storedKey(line.key)),
      lines.map((line) => line.window),
      actual.toString(),
      call.now ?? null,
      budget,
    ]);
    return { late: row(rows).late === true };
  }

  /** Drops hold `id`; its row names its ledgers, so `_lines` is not needed. */
  async release(id: string, _lines: readonly StoreLine[], call: StoreCall): Promise<StoreSettlement> {
    const rows = await this.#run("release", this.#sql.release, call, id, (budget) => [id, call.now ?? null, budget]);
    return { late: row(rows).late === true };
  }

  async spent(line: StoreLine, call: StoreCall): Promise<bigint> {
    const rows = await this.#run("spent", this.#sql.spent, call, null, () => [
      storedKey(line.key),
      line.window,
      call.now ?? null,
    ]);
    const answer = row(rows);
    return toUnits(answer.spent, answer);
  }

  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    await this.#run("clear", this.#sql.clear, call, null, (budget) => [storedKey(ledger.toString()), budget]);
  }

  async clearAll(call: StoreCall): Promise<void> {
    await this.#run("clearAll", this.#sql.clearAll, call, null, (budget) => [budget]);
  }

  async #decide(
    lines: readonly StoreLine[],
    amount: bigint,
    hold: Hold | null,
    call: StoreCall,
  ): Promise<StoreVerdict> {
    const rows = await this.#run(hold === null ? "charge" : "reserve", this.#sql.decide, call, null, (budget) => [
      lines.map((line) => storedKey(line.key)),
      lines.map((line) => line.maxSpend.toString()),
      lines.map((line) => line.window),
      amount.toString(),
      call.now ?? null,
      budget,
      hold?.id ?? null,
      hold?.ttl ?? null,
      hold?.retain ?? null,
    ]);
    const answer = row(rows);
    const spent = answer.spent;
    if (!Array.isArray(spent)) throw unreadable("spent", answer);
    return { allowed: answer.allowed === true, spent: spent.map((units) => toUnits(units, answer)) };
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
      const margin = this.#marginMs ?? Math.max(1, call.timeoutMs / 10);
      const budget = call.deadline - Date.now() - margin;
      if (budget <= 0 || call.signal.aborted) {
        throw new StoreTimeoutError(
          operation,
          call.timeoutMs,
          "the deadline passed before a connection was free; nothing was sent",
        );
      }
      return await session.query(`${this.#objects.ledgers}:${operation}`, text, params(budget));
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      const sqlstate = typeof code === "string" && SQLSTATE.test(code) ? code : undefined;
      // A statement the server answered leaves the connection usable; anything else may not.
      if (sqlstate === undefined) broken = !(error instanceof StoreError);
      throw classify(operation, error, sqlstate, holdId, call.timeoutMs);
    } finally {
      session.release(broken);
    }
  }
}

function row(rows: readonly PostgresRow[]): PostgresRow {
  const first = rows[0];
  if (first === undefined) throw new StateError("PostgresStore: the server answered with no row");
  return first;
}

function toUnits(value: unknown, answer: PostgresRow): bigint {
  if (typeof value === "string" && /^\d+$/.test(value)) return BigInt(value);
  throw unreadable("spent", answer);
}

function unreadable(column: string, answer: PostgresRow): StateError {
  return new StateError(
    `PostgresStore: the server answered ${show(answer)}: expected ${column} as whole numbers of 10^-18 units`,
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
