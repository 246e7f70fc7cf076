import { createRequire } from "node:module";
import { ConfigurationError } from "budgetgate";
import { show } from "budgetgate/store";
import { adaptBuiltin, type BuiltinDatabase } from "./builtin.js";

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
type BuiltinConstructor = new (filename: string) => BuiltinDatabase;

/**
 * Which SQLite library a {@link SqliteStore} opens a file with:
 * - `"better-sqlite3"`: the npm package (a peer dependency; version 12 or 13).
 * - `"node:sqlite"`: Node's built-in `DatabaseSync` (Node 22.13+, Deno 2), no native build.
 * - `"bun:sqlite"`: Bun's built-in `Database`.
 */
export type SqliteDriver = "better-sqlite3" | "node:sqlite" | "bun:sqlite";

/** The drivers a store can be told to use. */
export const SQLITE_DRIVERS: readonly SqliteDriver[] = ["better-sqlite3", "node:sqlite", "bun:sqlite"];

// Loaded on first use rather than at import, so that the module loads without its optional peer and
// on runtimes that lack a built-in. Resolved from this module's URL, as a `require` here would be.
const load = createRequire(import.meta.url);

/**
 * Opens `filename` with `driver`, or without one with the runtime's usual SQLite: bun:sqlite on
 * Bun, node:sqlite on Deno (better-sqlite3 12 loads on neither), and on Node better-sqlite3 if it
 * is installed, else node:sqlite (Node 22.13+).
 *
 * @throws {ConfigurationError} if the driver asked for (or, without one, every driver) cannot be
 * loaded, naming what to install; whatever the driver throws if the file cannot be opened.
 */
export function openDatabase(filename: string, driver?: SqliteDriver): SqliteDatabase {
  if (driver !== undefined) return open(filename, driver, loadOrExplain(driver));
  if ("Bun" in globalThis) return openDatabase(filename, "bun:sqlite");
  if ("Deno" in globalThis) return openDatabase(filename, "node:sqlite");
  const preferred = tryLoad("better-sqlite3");
  if (!(preferred instanceof Error)) return open(filename, "better-sqlite3", preferred);
  const fallback = tryLoad("node:sqlite");
  if (!(fallback instanceof Error)) return open(filename, "node:sqlite", fallback);
  throw new ConfigurationError(
    `SqliteStore needs an SQLite driver: run \`npm install better-sqlite3\`, or use Node 22.13+, whose built-in node:sqlite it then uses (better-sqlite3: ${firstLine(preferred)}; node:sqlite: ${firstLine(fallback)})`,
    { cause: preferred },
  );
}

function open(filename: string, driver: SqliteDriver, loaded: unknown): SqliteDatabase {
  if (driver === "better-sqlite3") return new (loaded as DatabaseConstructor)(filename);
  const Builtin = (loaded as Record<string, BuiltinConstructor>)[driver === "bun:sqlite" ? "Database" : "DatabaseSync"];
  return adaptBuiltin(new (Builtin as BuiltinConstructor)(filename), filename);
}

function tryLoad(driver: SqliteDriver): unknown {
  try {
    return load(driver);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function loadOrExplain(driver: SqliteDriver): unknown {
  const loaded = tryLoad(driver);
  if (!(loaded instanceof Error)) return loaded;
  const remedy =
    driver === "better-sqlite3"
      ? "run `npm install better-sqlite3`"
      : driver === "node:sqlite"
        ? "it is built into Node 22.13+ and Deno 2"
        : "it is built into Bun";
  throw new ConfigurationError(
    `SqliteStore driver ${show(driver)} could not be loaded (${firstLine(loaded)}): ${remedy}, or choose another driver`,
    { cause: loaded },
  );
}

/** Node's "Cannot find module" carries its require stack on the following lines. */
function firstLine(error: Error): string {
  return error.message.split("\n", 1)[0] ?? error.message;
}

/** SQLite's primary result codes by number (the low byte of an extended code), as SQLite names them. */
const RESULT_CODES = [
  "OK",
  "ERROR",
  "INTERNAL",
  "PERM",
  "ABORT",
  "BUSY",
  "LOCKED",
  "NOMEM",
  "READONLY",
  "INTERRUPT",
  "IOERR",
  "CORRUPT",
  "NOTFOUND",
  "FULL",
  "CANTOPEN",
  "PROTOCOL",
  "EMPTY",
  "SCHEMA",
  "TOOBIG",
  "CONSTRAINT",
  "MISMATCH",
  "MISUSE",
  "NOLFS",
  "AUTH",
  "FORMAT",
  "RANGE",
  "NOTADB",
  "NOTICE",
  "WARNING",
];

/**
 * The SQLite result code of a driver's error, as `SQLITE_…` text, or null if it carries none.
 * better-sqlite3 and bun:sqlite set `code` to the extended code's name ("SQLITE_CONSTRAINT_UNIQUE");
 * Node's node:sqlite sets `code` to "ERR_SQLITE_ERROR" and the number in `errcode` (2067), of
 * which this gives the primary code's name ("SQLITE_CONSTRAINT"), enough to tell the kinds apart.
 *
 * @example
 * resultCode(Object.assign(new Error("UNIQUE constraint failed"), { errcode: 2067 })); // "SQLITE_CONSTRAINT"
 */
export function resultCode(error: unknown): string | null {
  const { code, errcode } = (error ?? {}) as { code?: unknown; errcode?: unknown };
  if (typeof code === "string" && code.startsWith("SQLITE_")) return code;
  if (typeof errcode !== "number") return null;
  const name = RESULT_CODES[errcode & 0xff];
  return name === undefined ? null : `SQLITE_${name}`;
}
