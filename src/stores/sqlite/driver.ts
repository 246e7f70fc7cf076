import { createRequire } from "node:module";
import { ConfigurationError } from "budgetgate";

/** A prepared statement, as far as the store uses one. */
export interface SqliteStatement {
  run(...params: unknown[]): { readonly changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  pluck(toggle?: boolean): SqliteStatement;
  safeIntegers(toggle?: boolean): SqliteStatement;
}

/**
 * The parts of a better-sqlite3 `Database` the store uses. Structural, so that importing
 * `budgetgate/sqlite` needs neither better-sqlite3 nor its types until a store is made.
 */
export interface SqliteDatabase {
  /** The file name, or `":memory:"`. */
  readonly name: string;
  readonly memory: boolean;
  readonly readonly: boolean;
  prepare(source: string): SqliteStatement;
  transaction(fn: (work: () => unknown) => unknown): { immediate(work: () => unknown): unknown };
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

type DatabaseConstructor = new (filename: string) => SqliteDatabase;

/**
 * Loads better-sqlite3 on first use rather than at import, so that the module loads without its
 * optional peer. It is resolved from this module's URL, as a `require` from this file would.
 *
 * @throws {ConfigurationError} if better-sqlite3 is not installed.
 */
export function loadDriver(): DatabaseConstructor {
  const load = createRequire(import.meta.url);
  try {
    return load("better-sqlite3") as DatabaseConstructor;
  } catch (error) {
    throw new ConfigurationError(
      `SqliteStore needs better-sqlite3, which could not be loaded (${error instanceof Error ? error.message : String(error)}): run \`npm install better-sqlite3\`, or pass an open Database`,
      { cause: error },
    );
  }
}
