import { createRequire } from "node:module";
import { ConfigurationError } from "budgetgate";

/** A prepared statement, as far as the store uses one. */
export interface SqliteStatement {
  /** Runs the statement; `changes` is the number of rows it changed. */
  run(...params: unknown[]): {
    /** Rows the statement changed. */
    readonly changes: number;
  };
  /** The first row of the result, or undefined. */
  get(...params: unknown[]): unknown;
  /** Every row of the result. */
  all(...params: unknown[]): unknown[];
  /** Makes the statement answer the first column only. */
  pluck(toggle?: boolean): SqliteStatement;
  /** Makes the statement answer integers as bigint. */
  safeIntegers(toggle?: boolean): SqliteStatement;
}

/**
 * The parts of a better-sqlite3 `Database` the store uses. Structural, so that importing
 * `budgetgate/sqlite` needs neither better-sqlite3 nor its types until a store is made.
 */
export interface SqliteDatabase {
  /** The file name, or `":memory:"`. */
  readonly name: string;
  /** Whether the database lives in memory (`":memory:"`). */
  readonly memory: boolean;
  /** Whether the connection was opened read-only. */
  readonly readonly: boolean;
  /** Compiles a statement. */
  prepare(source: string): SqliteStatement;
  /** Wraps a function in a transaction; the store uses its `immediate` form. */
  transaction(fn: (work: () => unknown) => unknown): {
    /** Runs `work` in a `BEGIN IMMEDIATE` transaction. */ immediate(work: () => unknown): unknown;
  };
  /** Runs SQL with no parameters (the schema). */
  exec(source: string): unknown;
  /** Reads or sets a pragma. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Closes the connection. */
  close(): unknown;
}

type DatabaseConstructor = new (filename: string) => SqliteDatabase;

/**
 * Loads better-sqlite3 on first use rather than at import, so that the module loads without its
 * optional peer. It is resolved from this file: `__filename` in the CommonJS build, the module's
 * URL in the ES build (bundlers rewrite a bare `require`, so it is not tested for).
 *
 * @throws {ConfigurationError} if better-sqlite3 is not installed.
 */
export function loadDriver(): DatabaseConstructor {
  const load = createRequire(typeof __filename === "string" ? __filename : import.meta.url);
  try {
    return load("better-sqlite3") as DatabaseConstructor;
  } catch (error) {
    throw new ConfigurationError(
      `SqliteStore needs better-sqlite3, which could not be loaded (${error instanceof Error ? error.message : String(error)}): run \`npm install better-sqlite3\`, or pass an open Database`,
      { cause: error },
    );
  }
}
