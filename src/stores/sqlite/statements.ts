import type { SqliteDatabase } from "./driver.js";
import type { StoredKey } from "./keys.js";
import type { TableNames } from "./schema.js";

/** A ledger row as stored: amounts are decimal text of 10⁻¹⁸ units. */
export interface LedgerRow {
  readonly id: number;
  readonly key: StoredKey;
  readonly total: string;
  readonly reserved: string;
  readonly newest: number | null;
  readonly seq: number;
  readonly floor: string;
  readonly floor_seq: number;
  readonly floor_t: number | null;
  readonly gone: number;
  readonly held_until: number | null;
  readonly sweep_at: number | null;
}

/** A spend's position and the ledger's running total just after it. */
export interface SpendRow {
  readonly t: number;
  readonly seq: number;
  readonly cum: string;
}

/** A spend's position in the log. */
export interface SpendPosition {
  readonly t: number;
  readonly seq: number;
}

/** A running total as stored. */
export interface TotalRow {
  readonly window_id: string;
  readonly kind: string;
  readonly seconds: number | null;
  readonly period_start: number | null;
  readonly period_end: number | null;
  readonly base: string;
  readonly pos: number;
}

/** A hold as `commit` and `release` need it. */
export interface HoldRow {
  readonly rowid: number;
  readonly amount: string;
  /** JSON array of ledger ids. */
  readonly ledgers: string;
  readonly active: number;
  readonly forget_at: number;
}

/** An active hold whose time has come. */
export interface DueHold {
  readonly rowid: number;
  readonly amount: string;
  readonly ledgers: string;
}

/** A prepared statement with typed parameters and rows. */
export interface Stmt<P extends unknown[], R = unknown> {
  run(...params: P): { readonly changes: number };
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/** The store's prepared statements. */
export interface Statements {
  readonly now: Stmt<[], number>;
  readonly ledgerByKey: Stmt<[key: StoredKey], LedgerRow>;
  readonly ledgerById: Stmt<[id: number], LedgerRow>;
  readonly newestByKey: Stmt<[key: StoredKey], number | null>;
  readonly insertLedger: Stmt<[key: StoredKey], number>;
  readonly updateLedger: Stmt<
    [
      total: string,
      reserved: string,
      newest: number | null,
      seq: number,
      floor: string,
      floorSeq: number,
      floorT: number | null,
      gone: number,
      heldUntil: number | null,
      sweepAt: number | null,
      id: number,
    ]
  >;
  readonly reservedById: Stmt<[id: number], string>;
  readonly setReserved: Stmt<[reserved: string, id: number]>;
  readonly deleteLedger: Stmt<[key: StoredKey], number>;
  readonly deleteLedgerById: Stmt<[id: number]>;
  readonly unschedule: Stmt<[id: number]>;
  readonly dueLedgers: Stmt<[now: number, limit: number], number>;

  readonly spendBefore: Stmt<[ledger: number, instant: number], SpendRow>;
  readonly nthOldest: Stmt<[ledger: number, offset: number], SpendPosition>;
  readonly nthOldestThrough: Stmt<[ledger: number, t: number, seq: number, offset: number], SpendPosition>;
  readonly deleteThrough: Stmt<[ledger: number, t: number, seq: number]>;
  readonly insertSpend: Stmt<[ledger: number, t: number, seq: number, cum: string]>;
  readonly deleteSpends: Stmt<[ledger: number]>;

  readonly totalsOf: Stmt<[ledger: number], TotalRow>;
  readonly putTotal: Stmt<
    [
      ledger: number,
      windowId: string,
      kind: string,
      seconds: number | null,
      start: number | null,
      end: number | null,
      base: string,
      pos: number,
    ]
  >;
  readonly deleteTotal: Stmt<[ledger: number, windowId: string]>;
  readonly deleteTotals: Stmt<[ledger: number]>;

  readonly scanText: Stmt<[from: Uint8Array, below: Uint8Array | null, limit: number], LedgerRow>;
  readonly scanBlob: Stmt<[from: Uint8Array, below: Uint8Array, limit: number], LedgerRow>;
  readonly scanBlobFrom: Stmt<[from: Uint8Array, limit: number], LedgerRow>;

  readonly holdById: Stmt<[id: string], HoldRow>;
  readonly insertHold: Stmt<[id: string, amount: string, ledgers: string, expiresAt: number, forgetAt: number]>;
  readonly deleteHold: Stmt<[rowid: number]>;
  readonly dueHolds: Stmt<[now: number], DueHold>;
  readonly expireHold: Stmt<[rowid: number]>;
  readonly forgottenHolds: Stmt<[now: number, limit: number], number>;

  readonly savepoint: Stmt<[]>;
  readonly releaseSavepoint: Stmt<[]>;
  readonly rollbackToSavepoint: Stmt<[]>;

  readonly clearLedgers: Stmt<[]>;
  readonly clearSpends: Stmt<[]>;
  readonly clearTotals: Stmt<[]>;
  readonly clearHolds: Stmt<[]>;
}

const LEDGER_COLUMNS = "id, key, total, reserved, newest, seq, floor, floor_seq, floor_t, gone, held_until, sweep_at";

/**
 * Prepares every statement the store runs, once per store. Integers are read as numbers whatever
 * the connection's `defaultSafeIntegers`: ids and sequence numbers stay far below 2⁵³.
 */
export function prepareStatements(db: SqliteDatabase, names: TableNames): Statements {
  const { ledgers, spends, totals, holds } = names;
  const q = <P extends unknown[], R = unknown>(sql: string, pluck = false): Stmt<P, R> => {
    const statement = db.prepare(sql).safeIntegers(false);
    return (pluck ? statement.pluck() : statement) as unknown as Stmt<P, R>;
  };
  return {
    // SQLite's clock, not JavaScript's: the host's wall clock as the OS gives it to every process,
    // whatever a process did to its Date. julianday is ms-exact; the rounding undoes its float error.
    now: q<[], number>("SELECT round((julianday('now') - 2440587.5) * 86400000.0)", true),
    ledgerByKey: q<[key: StoredKey], LedgerRow>(`SELECT ${LEDGER_COLUMNS} FROM "${ledgers}" WHERE key = ?`),
    ledgerById: q<[id: number], LedgerRow>(`SELECT ${LEDGER_COLUMNS} FROM "${ledgers}" WHERE id = ?`),
    newestByKey: q<[key: StoredKey], number | null>(`SELECT newest FROM "${ledgers}" WHERE key = ?`, true),
    insertLedger: q<[key: StoredKey], number>(`INSERT INTO "${ledgers}" (key) VALUES (?) RETURNING id`, true),
    updateLedger: q(
      `UPDATE "${ledgers}" SET total = ?, reserved = ?, newest = ?, seq = ?, floor = ?, floor_seq = ?, floor_t = ?, gone = ?, held_until = ?, sweep_at = ? WHERE id = ?`,
    ),
    reservedById: q<[id: number], string>(`SELECT reserved FROM "${ledgers}" WHERE id = ?`, true),
    setReserved: q<[reserved: string, id: number]>(`UPDATE "${ledgers}" SET reserved = ? WHERE id = ?`),
    deleteLedger: q<[key: StoredKey], number>(`DELETE FROM "${ledgers}" WHERE key = ? RETURNING id`, true),
    deleteLedgerById: q<[id: number]>(`DELETE FROM "${ledgers}" WHERE id = ?`),
    unschedule: q<[id: number]>(`UPDATE "${ledgers}" SET sweep_at = NULL WHERE id = ?`),
    dueLedgers: q<[now: number, limit: number], number>(
      `SELECT id FROM "${ledgers}" WHERE sweep_at IS NOT NULL AND sweep_at < ? ORDER BY sweep_at LIMIT ?`,
      true,
    ),

    spendBefore: q<[ledger: number, instant: number], SpendRow>(
      `SELECT t, seq, cum FROM "${spends}" WHERE ledger = ? AND t < ? ORDER BY t DESC, seq DESC LIMIT 1`,
    ),
    nthOldest: q<[ledger: number, offset: number], SpendPosition>(
      `SELECT t, seq FROM "${spends}" WHERE ledger = ? ORDER BY t, seq LIMIT 1 OFFSET ?`,
    ),
    nthOldestThrough: q<[ledger: number, t: number, seq: number, offset: number], SpendPosition>(
      `SELECT t, seq FROM "${spends}" WHERE ledger = ? AND (t, seq) <= (?, ?) ORDER BY t, seq LIMIT 1 OFFSET ?`,
    ),
    deleteThrough: q<[ledger: number, t: number, seq: number]>(
      `DELETE FROM "${spends}" WHERE ledger = ? AND (t, seq) <= (?, ?)`,
    ),
    insertSpend: q<[ledger: number, t: number, seq: number, cum: string]>(
      `INSERT INTO "${spends}" (ledger, t, seq, cum) VALUES (?, ?, ?, ?)`,
    ),
    deleteSpends: q<[ledger: number]>(`DELETE FROM "${spends}" WHERE ledger = ?`),

    totalsOf: q<[ledger: number], TotalRow>(
      `SELECT window_id, kind, seconds, period_start, period_end, base, pos FROM "${totals}" WHERE ledger = ?`,
    ),
    putTotal: q(
      `INSERT OR REPLACE INTO "${totals}" (ledger, window_id, kind, seconds, period_start, period_end, base, pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteTotal: q<[ledger: number, windowId: string]>(`DELETE FROM "${totals}" WHERE ledger = ? AND window_id = ?`),
    deleteTotals: q<[ledger: number]>(`DELETE FROM "${totals}" WHERE ledger = ?`),

    // Keys as the index orders them: text (memcmp of UTF-8) before blobs (the keys with a lone
    // surrogate, see keys.ts). Text bounds arrive as bytes and are cast, so that a bound need not be
    // valid UTF-8 (the successor of a prefix is its last byte plus one); no upper bound for text is
    // x'', below every blob. Node 22's node:sqlite binds an empty Uint8Array as NULL: an empty
    // lower bound is '' again (every text key), and x'' for the blobs (every blob key).
    scanText: q<[from: Uint8Array, below: Uint8Array | null, limit: number], LedgerRow>(
      `SELECT ${LEDGER_COLUMNS} FROM "${ledgers}" WHERE key >= coalesce(CAST(? AS TEXT), '') AND key < coalesce(CAST(? AS TEXT), x'') ORDER BY key LIMIT ?`,
    ),
    scanBlob: q<[from: Uint8Array, below: Uint8Array, limit: number], LedgerRow>(
      `SELECT ${LEDGER_COLUMNS} FROM "${ledgers}" WHERE key >= coalesce(?, x'') AND key < ? ORDER BY key LIMIT ?`,
    ),
    scanBlobFrom: q<[from: Uint8Array, limit: number], LedgerRow>(
      `SELECT ${LEDGER_COLUMNS} FROM "${ledgers}" WHERE key >= coalesce(?, x'') ORDER BY key LIMIT ?`,
    ),

    holdById: q<[id: string], HoldRow>(`SELECT rowid, amount, ledgers, active, forget_at FROM "${holds}" WHERE id = ?`),
    insertHold: q<[id: string, amount: string, ledgers: string, expiresAt: number, forgetAt: number]>(
      `INSERT INTO "${holds}" (id, amount, ledgers, expires_at, forget_at, active) VALUES (?, ?, ?, ?, ?, 1)`,
    ),
    deleteHold: q<[rowid: number]>(`DELETE FROM "${holds}" WHERE rowid = ?`),
    dueHolds: q<[now: number], DueHold>(
      `SELECT rowid, amount, ledgers FROM "${holds}" WHERE active = 1 AND expires_at <= ? ORDER BY expires_at`,
    ),
    expireHold: q<[rowid: number]>(`UPDATE "${holds}" SET active = 0 WHERE rowid = ?`),
    forgottenHolds: q<[now: number, limit: number], number>(
      `SELECT rowid FROM "${holds}" WHERE active = 0 AND forget_at <= ? ORDER BY forget_at LIMIT ?`,
      true,
    ),

    // One call of a batch: see SqliteStore's #decideBatch.
    savepoint: q<[]>("SAVEPOINT budgetgate_call"),
    releaseSavepoint: q<[]>("RELEASE budgetgate_call"),
    rollbackToSavepoint: q<[]>("ROLLBACK TO budgetgate_call"),

    clearLedgers: q<[]>(`DELETE FROM "${ledgers}"`),
    clearSpends: q<[]>(`DELETE FROM "${spends}"`),
    clearTotals: q<[]>(`DELETE FROM "${totals}"`),
    clearHolds: q<[]>(`DELETE FROM "${holds}"`),
  };
}
