import type { SqliteDatabase, SqliteStatement } from "./driver.js";

/** A statement of `node:sqlite` (`StatementSync`) or `bun:sqlite`, as far as the adapter uses one. */
interface BuiltinStatement {
  run(...params: unknown[]): { readonly changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** node:sqlite */
  setReadBigInts?(toggle: boolean): void;
  /** bun:sqlite */
  safeIntegers?(toggle: boolean): unknown;
}

/** A connection of `node:sqlite` (`DatabaseSync`) or `bun:sqlite` (`Database`). */
export interface BuiltinDatabase {
  prepare(source: string): BuiltinStatement;
  exec(source: string): unknown;
  close(): unknown;
}

/**
 * Gives a runtime's built-in SQLite connection the better-sqlite3 shape the store is written for.
 * Both built-ins run prepared statements synchronously, as better-sqlite3 does; what they lack is
 * `pluck`, `pragma` and `transaction`, made here from plain statements.
 */
export function adaptBuiltin(raw: BuiltinDatabase, filename: string): SqliteDatabase & { readonly open: boolean } {
  // better-sqlite3 says `open: false` once closed, which is how the store tells a database closed by
  // its owner (an outage: StoreError) from a bug; the built-ins' own errors do not say it.
  let open = true;
  return {
    get open() {
      return open;
    },
    name: filename,
    memory: filename === ":memory:" || filename === "",
    readonly: false,
    prepare: (source) => adaptStatement(raw.prepare(source), false),
    exec: (source) => raw.exec(source),
    pragma(source, options) {
      const rows = raw.prepare(`PRAGMA ${source}`).all();
      return options?.simple ? firstColumn(rows[0]) : rows;
    },
    transaction: (fn) => ({
      immediate(work) {
        raw.exec("BEGIN IMMEDIATE");
        try {
          const result = fn(work);
          raw.exec("COMMIT");
          return result;
        } catch (error) {
          rollback(raw);
          throw error;
        }
      },
    }),
    close: () => {
      open = false;
      return raw.close();
    },
  };
}

function adaptStatement(statement: BuiltinStatement, plucked: boolean): SqliteStatement {
  const row = (value: unknown) => (plucked ? firstColumn(value) : (value ?? undefined));
  const adapted: SqliteStatement = {
    run: (...params) => ({ changes: Number(statement.run(...params).changes) }),
    // bun:sqlite answers null for no row, node:sqlite and better-sqlite3 undefined.
    get: (...params) => row(statement.get(...params)),
    all: (...params) => statement.all(...params).map(row),
    pluck: (toggle = true) => adaptStatement(statement, toggle),
    safeIntegers(toggle = true) {
      if (statement.setReadBigInts) statement.setReadBigInts(toggle);
      else statement.safeIntegers?.(toggle);
      return adapted;
    },
  };
  return adapted;
}

function firstColumn(row: unknown): unknown {
  return row == null ? undefined : Object.values(row as object)[0];
}

/**
 * Ends a failed transaction. SQLite has already rolled back on its own after some errors (a busy
 * BEGIN never began, a full disk may end it), and then ROLLBACK itself fails: the error of the
 * call is the one to report, not that one.
 */
function rollback(raw: BuiltinDatabase): void {
  try {
    raw.exec("ROLLBACK");
  } catch {
    // See above: nothing was left open.
  }
}
