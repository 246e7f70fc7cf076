/**
 * The SQLite store's schema (schema.ts, as in the PostgreSQL store: SQL stores keep tables; the
 * key-value stores' counterpart is layout.ts), embedded as text so that the package ships no SQL file to locate at
 * run time. Every statement is idempotent (`IF NOT EXISTS`); the store runs them once, when a
 * database has no schema yet.
 *
 * Amounts are decimal TEXT of 10⁻¹⁸ units: SQLite integers stop at 2⁶³, far below the 10³⁸ units a
 * budget may reach, so all arithmetic is done in JavaScript with bigint inside the transaction.
 */

/**
 * Version of the schema below, kept as text in the `meta` table (row `schema`); a store refuses a
 * database of another version. Named LAYOUT_VERSION in every store, so one name finds them all.
 * @example String(LAYOUT_VERSION) // "1", as the meta table holds it
 */
export const LAYOUT_VERSION = 1;

/**
 * Default prefix of the store's tables: `budgetgate_meta`, `budgetgate_ledgers`, ….
 * @example new SqliteStore(":memory:", { prefix: `${DEFAULT_PREFIX}_test` }) // tables budgetgate_test_ledgers, …
 */
export const DEFAULT_PREFIX = "budgetgate";

/** Names of the store's tables for one prefix. */
export interface TableNames {
  readonly meta: string;
  readonly ledgers: string;
  readonly spends: string;
  readonly holds: string;
}

/** The table names for `prefix` (already validated as an SQL identifier), joined by `_` as PostgreSQL's are. */
export function tableNames(prefix: string): TableNames {
  return {
    meta: `${prefix}_meta`,
    ledgers: `${prefix}_ledgers`,
    spends: `${prefix}_spends`,
    holds: `${prefix}_holds`,
  };
}

/**
 * The DDL for one prefix.
 *
 * - ledgers: one row per ledger with its running totals. A ledger's spends form a prefix-summed
 *   sequence: `total` is the sum of every spend recorded, `expired` the sum of those that left the
 *   window, so the window's committed spend is `total − expired` without summing anything. `seq`
 *   numbers the spends; `gone` is the highest seq already deleted. `id` is AUTOINCREMENT so that a
 *   cleared ledger's id is never reused: a hold placed before the clear then touches nothing.
 * - spends: `cum` is the ledger's `total` just after that spend. Keyed by time so that the newest
 *   expired spend — whose `cum` is the new `expired` — is one index seek, and deletion walks from
 *   the oldest end.
 * - holds: active holds are found by expiry, expired-but-remembered ones by forget time, each
 *   through a partial index, so that nothing scans the table.
 */
export function schemaSql(names: TableNames): string {
  const { meta, ledgers, spends, holds } = names;
  return `
CREATE TABLE IF NOT EXISTS "${meta}" (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "${ledgers}" (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  total TEXT NOT NULL DEFAULT '0',
  expired TEXT NOT NULL DEFAULT '0',
  reserved TEXT NOT NULL DEFAULT '0',
  last_t REAL,
  seq INTEGER NOT NULL DEFAULT 0,
  gone INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS "${spends}" (
  ledger INTEGER NOT NULL,
  t REAL NOT NULL,
  seq INTEGER NOT NULL,
  cum TEXT NOT NULL,
  PRIMARY KEY (ledger, t, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${holds}" (
  id TEXT NOT NULL UNIQUE,
  amount TEXT NOT NULL,
  ledgers TEXT NOT NULL,
  expires_at REAL NOT NULL,
  forget_at REAL NOT NULL,
  active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "${holds}_due" ON "${holds}" (expires_at) WHERE active = 1;
CREATE INDEX IF NOT EXISTS "${holds}_forget" ON "${holds}" (forget_at) WHERE active = 0;
INSERT OR IGNORE INTO "${meta}" (key, value) VALUES ('schema', '${LAYOUT_VERSION}');
`;
}
