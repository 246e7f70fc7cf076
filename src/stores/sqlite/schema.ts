/**
 * The SQLite store's schema (schema.ts, as in the PostgreSQL store: SQL stores keep tables; the
 * key-value stores' counterpart is layout.ts), embedded as text so that the package ships no SQL
 * file to locate at run time. Every statement is idempotent (`IF NOT EXISTS`); the store runs them
 * once, when a database has no schema yet.
 *
 * Amounts are decimal TEXT of 10⁻¹⁸ units: SQLite integers stop at 2⁶³, far below the 10³⁸ units a
 * budget may reach, so all arithmetic is done in JavaScript with bigint inside the transaction.
 */

/**
 * Version of the schema below, kept as text in the `meta` table (row `schema`); a store refuses a
 * database of another version. Named LAYOUT_VERSION in every store, so one name finds them all.
 * Version 2 (several limits per ledger): running totals per window in their own table, the log's
 * floor and the sweep time on the ledger row.
 * @example String(LAYOUT_VERSION) // "2", as the meta table holds it
 */
export const LAYOUT_VERSION = 2;

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
  readonly totals: string;
  readonly holds: string;
}

/** The table names for `prefix` (already validated as an SQL identifier), joined by `_` as PostgreSQL's are. */
export function tableNames(prefix: string): TableNames {
  return {
    meta: `${prefix}_meta`,
    ledgers: `${prefix}_ledgers`,
    spends: `${prefix}_spends`,
    totals: `${prefix}_totals`,
    holds: `${prefix}_holds`,
  };
}

/**
 * The DDL for one prefix.
 *
 * - ledgers: one row per ledger. Its spends form a prefix-summed sequence: `total` is the sum of
 *   every spend ever recorded on it (`seq` of them, the newest at `newest`). `floor` is the part of
 *   `total` the log no longer holds (spends up to `floor_seq`, the last at `floor_t`): the log keeps
 *   spends for the longest rolling window the ledger has a total for, none if it has none. `gone`
 *   is a seq below which no spend row is stored. `held_until` is the latest expiry of a hold placed
 *   on it, `sweep_at` when something of it (old log rows, or the whole ledger) next stops counting.
 *   `id` is AUTOINCREMENT so that a cleared ledger's id is never reused: a hold placed before the
 *   clear then touches nothing.
 * - spends: the log. `cum` is the ledger's `total` just after that spend. Keyed by time (spends
 *   are recorded in time order, so seq order is time order) so that the newest spend before an
 *   instant — whose `cum` is what a window starting there does not count — is one index seek, and
 *   deletion walks from the oldest end.
 * - totals: one running total per ledger and window id. Each is an offset into the ledger's
 *   prefix sums: it counts `total − base`, `base` being the `cum` of the last spend it does not
 *   count (at seq `pos`). Recording a spend thus adds it to every total at once by moving the
 *   ledger's `total`, with no write here; a rolling total moves `base` forward as spends leave its
 *   window; a calendar total keeps its period `[period_start, period_end)`.
 * - holds: active holds are found by expiry, expired-but-remembered ones by forget time, each
 *   through a partial index, so that nothing scans the table.
 */
export function schemaSql(names: TableNames): string {
  const { meta, ledgers, spends, totals, holds } = names;
  return `
CREATE TABLE IF NOT EXISTS "${meta}" (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "${ledgers}" (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  total TEXT NOT NULL DEFAULT '0',
  reserved TEXT NOT NULL DEFAULT '0',
  newest REAL,
  seq INTEGER NOT NULL DEFAULT 0,
  floor TEXT NOT NULL DEFAULT '0',
  floor_seq INTEGER NOT NULL DEFAULT 0,
  floor_t REAL,
  gone INTEGER NOT NULL DEFAULT 0,
  held_until REAL,
  sweep_at REAL
);
CREATE INDEX IF NOT EXISTS "${ledgers}_sweep" ON "${ledgers}" (sweep_at) WHERE sweep_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS "${spends}" (
  ledger INTEGER NOT NULL,
  t REAL NOT NULL,
  seq INTEGER NOT NULL,
  cum TEXT NOT NULL,
  PRIMARY KEY (ledger, t, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${totals}" (
  ledger INTEGER NOT NULL,
  window_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  seconds REAL,
  period_start REAL,
  period_end REAL,
  base TEXT NOT NULL,
  pos INTEGER NOT NULL,
  PRIMARY KEY (ledger, window_id)
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
