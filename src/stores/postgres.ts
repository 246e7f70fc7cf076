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
  ConfigurationError,
  type Hold,
  type Ledger,
  ReservationNotFoundError,
  type SettleOutcome,
  type Store,
  type StoreCall,
  StoreError,
  type StoreLine,
  type StoreVerdict,
  show,
} from "budgetgate";
import { type PostgresClient, type PostgresDriver, type PostgresRow, toDriver } from "./postgres/driver.js";
import { storedKey } from "./postgres/keys.js";
import { type PostgresNames, postgresNames } from "./postgres/names.js";
import { NOT_FOUND_SQLSTATE, postgresSchema, type SchemaObjects, schemaObjects } from "./postgres/schema.js";

export type {
  PgClientLike,
  PgPoolLike,
  PostgresClient,
  PostgresDriver,
  PostgresJsLike,
  PostgresJsReserved,
  PostgresRow,
  PostgresSession,
} from "./postgres/driver.js";
export { DEFAULT_PREFIX, type PostgresNames } from "./postgres/names.js";
export { postgresSchema, SCHEMA_VERSION } from "./postgres/schema.js";

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
      const lockKey = `budgetgate migrate ${this.#objects.ledgers}`.replaceAll("'", "");
      await session.script(
        `BEGIN;\nSELECT pg_advisory_xact_lock(hashtext('${lockKey}'));\n${postgresSchema({
          prefix: this.names.prefix,
          ...(this.names.schema === null ? {} : { schema: this.names.schema }),
        })}\nCOMMIT;`,
      );
    } catch (error) {
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

  async commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<SettleOutcome> {
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
  async release(id: string, _lines: readonly StoreLine[], call: StoreCall): Promise<SettleOutcome> {
    const rows = await this.#run("release", this.#sql.release, call, id, (budget) => [id, call.now ?? null, budget]);
    return { late: row(rows).late === true };
  }

  async spent(line: StoreLine, call: StoreCall): Promise<bigint> {
    const rows = await this.#run("spent", this.#sql.spent, call, null, () => [
      storedKey(line.key),
      line.window,
      call.now ?? null,
    ]);
    return BigInt(row(rows).spent as string);
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
    const spent = answer.spent as readonly string[];
    return { allowed: answer.allowed === true, spent: spent.map((units) => BigInt(units)) };
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
    const session = await this.#driver.acquire();
    let broken = false;
    try {
      const margin = this.#marginMs ?? Math.max(1, call.timeoutMs / 10);
      const budget = call.deadline - Date.now() - margin;
      if (budget <= 0 || call.signal.aborted) {
        throw new StoreError(
          `PostgresStore ${operation}: the caller's deadline passed before a connection was free; nothing was sent`,
        );
      }
      return await session.query(`${this.#objects.ledgers}:${operation}`, text, params(budget));
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code !== "string" || !SQLSTATE.test(code)) broken = !(error instanceof StoreError);
      throw translate(operation, error, code, holdId);
    } finally {
      session.release(broken);
    }
  }
}

function row(rows: readonly PostgresRow[]): PostgresRow {
  const first = rows[0];
  if (first === undefined) throw new StoreError("PostgresStore: the server answered with no row");
  return first;
}

/** Names what went wrong in terms of the store, keeping the driver's error as the cause. */
function translate(operation: string, error: unknown, code: unknown, holdId: string | null): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (code === NOT_FOUND_SQLSTATE && holdId !== null) return new ReservationNotFoundError(holdId);
  if (code === "42883" || code === "42P01") {
    return new StoreError(
      `PostgresStore ${operation}: ${message}. Create the schema first: await store.migrate() (or apply postgresSchema())`,
      { cause: error },
    );
  }
  if (code === "55P03" || code === "57014") {
    return new StoreError(
      `PostgresStore ${operation} gave up on the server and rolled back (${message}): the caller's time ran out`,
      { cause: error },
    );
  }
  return error;
}
