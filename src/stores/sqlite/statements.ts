import type { SqliteDatabase } from "./driver.js";
import type { StoredKey } from "./keys.js";
import type { TableNames } from "./schema.js";

/** A ledger row as stored: amounts are decimal text of 10⁻¹⁸ units. */
export interface LedgerRow {
  readonly id: number;
  readonly total: string;
  readonly expired: string;
  readonly reserved: string;
  readonly last_t: number | null;
  readonly seq: number;
  readonly gone: number;
}

/** A spend's position and the ledger's running total just after it. */
export interface SpendRow {
  readonly t: number;
  readonly seq: number;
  readonly cum: string;
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
  readonly ledgerByKey: Stmt<[key: StoredKey], LedgerRow>;
  readonly insertLedger: Stmt<[key: StoredKey], number>;
  readonly updateLedger: Stmt<
    [total: string, expired: string, reserved: string, lastT: number | null, seq: number, gone: number, id: number]
  >;
  readonly reservedById: Stmt<[id: number], string>;
  readonly setReserved: Stmt<[reserved: string, id: number]>;
  readonly deleteLedger: Stmt<[key: StoredKey], number>;
  readonly newestExpired: Stmt<[ledger: number, horizon: number], SpendRow>;
  readonly nthOldest: Stmt<[ledger: number, offset: number], SpendRow>;
  readonly deleteThrough: Stmt<[ledger: number, t: number, seq: number]>;
  readonly insertSpend: Stmt<[ledger: number, t: number, seq: number, cum: string]>;
  readonly deleteSpends: Stmt<[ledger: number]>;
  readonly holdById: Stmt<[id: string], HoldRow>;
  readonly insertHold: Stmt<[id: string, amount: string, ledgers: string, expiresAt: number, forgetAt: number]>;
  readonly deleteHold: Stmt<[rowid: number]>;
  readonly dueHolds: Stmt<[now: number], DueHold>;
  readonly expireHold: Stmt<[rowid: number]>;
  readonly forgottenHolds: Stmt<[now: number, limit: number], number>;
  readonly clearLedgers: Stmt<[]>;
  readonly clearSpends: Stmt<[]>;
  readonly clearHolds: Stmt<[]>;
}

/**
 * Prepares every statement the store runs, once per store. Integers are read as numbers whatever
 * the connection's `defaultSafeIntegers`: ids and sequence numbers stay far below 2⁵³.
 */
export function prepareStatements(db: SqliteDatabase, names: TableNames): Statements {
  const { ledgers, spends, holds } = names;
  const q = <P extends unknown[], R = unknown>(sql: string, pluck = false): Stmt<P, R> => {
    const statement = db.prepare(sql).safeIntegers(false);
    return (pluck ? statement.pluck() : statement) as unknown as Stmt<P, R>;
  };
  return {
    ledgerByKey: q<[key: StoredKey], LedgerRow>(
      `SELECT id, total, expired, reserved, last_t, seq, gone FROM "${ledgers}" WHERE key = ?`,
    ),
    insertLedger: q<[key: StoredKey], number>(`INSERT INTO "${ledgers}" (key) VALUES (?) RETURNING id`, true),
    updateLedger: q<
      [total: string, expired: string, reserved: string, lastT: number | null, seq: number, gone: number, id: number]
    >(`UPDATE "${ledgers}" SET total = ?, expired = ?, reserved = ?, last_t = ?, seq = ?, gone = ? WHERE id = ?`),
    reservedById: q<[id: number], string>(`SELECT reserved FROM "${ledgers}" WHERE id = ?`, true),
    setReserved: q<[reserved: string, id: number]>(`UPDATE "${ledgers}" SET reserved = ? WHERE id = ?`),
    deleteLedger: q<[key: StoredKey], number>(`DELETE FROM "${ledgers}" WHERE key = ? RETURNING id`, true),

    newestExpired: q<[ledger: number, horizon: number], SpendRow>(
      `SELECT t, seq, cum FROM "${spends}" WHERE ledger = ? AND t < ? ORDER BY t DESC, seq DESC LIMIT 1`,
    ),
    nthOldest: q<[ledger: number, offset: number], SpendRow>(
      `SELECT t, seq, cum FROM "${spends}" WHERE ledger = ? ORDER BY t, seq LIMIT 1 OFFSET ?`,
    ),
    deleteThrough: q<[ledger: number, t: number, seq: number]>(
      `DELETE FROM "${spends}" WHERE ledger = ? AND (t, seq) <= (?, ?)`,
    ),
    insertSpend: q<[ledger: number, t: number, seq: number, cum: string]>(
      `INSERT INTO "${spends}" (ledger, t, seq, cum) VALUES (?, ?, ?, ?)`,
    ),
    deleteSpends: q<[ledger: number]>(`DELETE FROM "${spends}" WHERE ledger = ?`),

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

    clearLedgers: q<[]>(`DELETE FROM "${ledgers}"`),
    clearSpends: q<[]>(`DELETE FROM "${spends}"`),
    clearHolds: q<[]>(`DELETE FROM "${holds}"`),
  };
}
