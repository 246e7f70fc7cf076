import { ReservationNotFoundError } from "budgetgate";
import type { Account } from "./accounts.js";
import type { HoldRow, Statements } from "./statements.js";

/** Expired holds whose late-commit window has passed are deleted at most this many per call. */
const FORGET_BATCH = 256;

/**
 * Takes every hold whose TTL has passed off its ledgers' totals (through the partial index on
 * `expires_at`: no scan), and forgets a bounded batch of holds whose late-commit window is over.
 * Runs first in every transaction, so that every call sees current totals.
 */
export function expireHolds(sql: Statements, now: number): void {
  for (const hold of sql.dueHolds.all(now)) {
    unhold(sql, hold.ledgers, BigInt(hold.amount), []);
    sql.expireHold.run(hold.rowid);
  }
  // Selected, then deleted one by one: a DELETE … IN (subquery) costs far more even when nothing is due.
  for (const rowid of sql.forgottenHolds.all(now, FORGET_BATCH)) sql.deleteHold.run(rowid);
}

/** Records a new active hold of `amount` on `accounts`. */
export function placeHold(
  sql: Statements,
  accounts: readonly Account[],
  amount: bigint,
  hold: { readonly id: string; readonly ttl: number; readonly retain: number },
  now: number,
): void {
  const expiresAt = now + hold.ttl;
  for (const account of accounts) account.hold(amount, expiresAt);
  const ids = JSON.stringify(accounts.map((account) => account.id));
  sql.insertHold.run(hold.id, amount.toString(), ids, expiresAt, expiresAt + hold.retain);
}

/**
 * Hold `id`, if commit or release may still settle it.
 * @throws {ReservationNotFoundError} if it is unknown, settled, or past its late-commit window.
 */
export function findHold(sql: Statements, id: string, now: number): HoldRow {
  const hold = sql.holdById.get(id);
  if (hold === undefined || (hold.active === 0 && hold.forget_at <= now)) throw new ReservationNotFoundError(id);
  return hold;
}

/**
 * Removes `hold`, taking it off its ledgers if it still counted: off `loaded` accounts in memory
 * (they are saved later), off the others in the table. Answers whether it had expired.
 */
export function settleHold(sql: Statements, hold: HoldRow, loaded: readonly Account[] = []): boolean {
  sql.deleteHold.run(hold.rowid);
  if (hold.active === 0) return true;
  unhold(sql, hold.ledgers, BigInt(hold.amount), loaded);
  return false;
}

/** Subtracts a hold from each of its ledgers that still exists (a cleared ledger has a new id). */
function unhold(sql: Statements, ledgers: string, amount: bigint, loaded: readonly Account[]): void {
  if (amount === 0n) return;
  for (const id of JSON.parse(ledgers) as number[]) {
    const account = loaded.find((candidate) => candidate.id === id);
    if (account !== undefined) {
      account.hold(-amount);
      continue;
    }
    const reserved = sql.reservedById.get(id);
    if (reserved !== undefined) sql.setReserved.run((BigInt(reserved) - amount).toString(), id);
  }
}
