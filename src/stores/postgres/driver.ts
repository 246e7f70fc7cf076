import { ConfigurationError } from "budgetgate";
import { show } from "budgetgate/store";

/** A row as drivers return it: column name to value (NUMERIC and text as strings). */
export type PostgresRow = Readonly<Record<string, unknown>>;

/** One connection, held for one statement. */
export interface PostgresSession {
  /**
   * Runs one parameterised statement. `name` identifies its text, so that drivers may prepare it
   * once per connection. Resolves to the rows; rejects with the server's error (with `code`).
   */
  query(name: string, text: string, params: readonly unknown[]): Promise<readonly PostgresRow[]>;
  /** Runs several statements without parameters (the schema script). */
  script(text: string): Promise<void>;
  /** Gives the connection back; `broken` when it failed and must not be reused. */
  release(broken?: boolean): void;
}

/**
 * What PostgresStore needs of a client library. Built in for a `pg` Pool and a postgres.js `sql`;
 * implement it to plug in another.
 *
 * @example
 * const driver: PostgresDriver = { acquire: async () => mySession() };
 */
export interface PostgresDriver {
  /** A connection for one statement. The store computes its time budget once it has one. */
  acquire(): Promise<PostgresSession>;
}

/** The part of a `pg` Pool the store uses. */
export interface PgPoolLike {
  /** Checks a client out of the pool. */
  connect(): Promise<PgClientLike>;
}

/** The part of a `pg` PoolClient the store uses. */
export interface PgClientLike {
  /** Runs a (named, prepared) statement with parameters. */
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{
    /** The rows the statement returned. */
    rows: unknown[];
  }>;
  /** Runs SQL text with no parameters (scripts such as the schema). */
  query(text: string): Promise<unknown>;
  /** Returns the client to the pool, or destroys it when given `true` or an error. */
  release(destroy?: boolean | Error): void;
}

/** The part of a postgres.js `sql` the store uses. */
export interface PostgresJsLike {
  /** Reserves one connection for the store's call. */
  reserve(): Promise<PostgresJsReserved>;
}

/** The part of a postgres.js reserved connection the store uses. */
export interface PostgresJsReserved {
  /** Runs SQL text with parameters. */
  unsafe(
    text: string,
    params?: never[],
    options?: { prepare?: boolean },
  ): PromiseLike<unknown> & {
    /** Runs it as a simple query, so that text with several statements (the schema) is allowed. */
    simple(): unknown;
  };
  /** Returns the connection to the pool. */
  release(): void;
}

/** A client PostgresStore accepts: a `pg` Pool, a postgres.js `sql`, or a driver of your own. */
export type PostgresClient = PgPoolLike | PostgresJsLike | PostgresDriver;

/**
 * Wraps a client in a {@link PostgresDriver}.
 * @throws {ConfigurationError} if `client` is none of the accepted kinds.
 */
export function toDriver(client: PostgresClient): PostgresDriver {
  // Not shown: a connection string may carry a password.
  if (typeof client === "string") {
    throw new ConfigurationError(`PostgresStore takes a client, not a connection string: ${HOW_TO_CONNECT}`);
  }
  const candidate = client as Partial<PostgresDriver & PgPoolLike & PostgresJsLike> | null;
  if (typeof candidate?.acquire === "function") return client as PostgresDriver;
  if (typeof candidate?.reserve === "function") return postgresJsDriver(client as PostgresJsLike);
  if (typeof candidate?.connect === "function") return pgDriver(client as PgPoolLike);
  throw new ConfigurationError(
    `Invalid PostgresStore client ${show(client)}: expected a pg Pool, a postgres.js sql, or an object with acquire(); ${HOW_TO_CONNECT}`,
  );
}

const HOW_TO_CONNECT =
  "run `npm install pg` and pass `new pg.Pool({ connectionString })`, or run `npm install postgres` and pass `postgres(connectionString)`";

function pgDriver(pool: PgPoolLike): PostgresDriver {
  return {
    async acquire() {
      const client = await pool.connect();
      return {
        async query(name, text, params) {
          const result = await client.query({ name, text, values: params as unknown[] });
          return result.rows as PostgresRow[];
        },
        async script(text) {
          await client.query(text);
        },
        release(broken) {
          client.release(broken === true);
        },
      };
    },
  };
}

function postgresJsDriver(sql: PostgresJsLike): PostgresDriver {
  return {
    async acquire() {
      const reserved = await sql.reserve();
      return {
        async query(_name, text, params) {
          // postgres.js names and caches prepared statements by their text.
          return (await reserved.unsafe(text, params as never[], { prepare: true })) as PostgresRow[];
        },
        async script(text) {
          await (reserved.unsafe(text).simple() as PromiseLike<unknown>);
        },
        release() {
          reserved.release();
        },
      };
    },
  };
}
