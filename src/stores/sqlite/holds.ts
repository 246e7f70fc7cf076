import { ReservationNotFoundError } from "budgetgate";
import type { StoreSettlement } from "budgetgate/store";
import type { Account } from "./accounts.js";
import type { Statements } from "./statements.js";

/** Expired holds whose late-commit window has passed are deleted at most this many per call. */
const FORGET_BATCH = 256;

/**
 * Takes every hold whose TTL has passed off its ledgers' totals (through the partial index on
 * `expires_at`: no scan), and forgets a bounded batch of holds whose late-commit window is over.
 * Runs first in every transaction, so that every call sees current totals.
 */
export function expireHolds(sql: Statements, now: number): void {
  for (const hold of sql.dueHolds.all(now)) {
    unhold(sql, hold.ledgers, BigInt(hold.amount));
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
  for (const account of accounts) account.hold(amount);
  const expiresAt = now + hold.ttl;
  const ids = JSON.stringify(accounts.map((account) => account.id));
  sql.insertHold.run(hold.id, amount.toString(), ids, expiresAt, expiresAt + hold.retain);
}

/**
 * Removes hold `id`, taking it off its ledgers if it still counted.
 * @throws {ReservationNotFoundError} if it is unknown, settled, or past its late-commit window.
 */
export function settleHold(sql: Statements, id: string, now: number): StoreSettlement {
  const hold = sql.holdById.get(id);
  if (hold === undefined || (hold.active === 0 && hold.forget_at <= now)) throw new ReservationNotFoundError(id);
  sql.deleteHold.run(hold.rowid);
  if (hold.active === 0) return { late: true };
  unhold(sql, hold.ledgers, BigInt(hold.amount));
  return { late: false };
}

/** Subtracts a hold from each of its ledgers that still exists (a cleared ledger has a new id). */
function unhold(sql: Statements, ledgers: string, amount: bigint): void {
  if (amount === 0n) return;
  for (const id of JSON.parse(ledgers) as number[]) {
    const reserved = sql.reservedById.get(id);
    if (reserved !== undefined) sql.setReserved.run((BigInt(reserved) - amount).toString(), id);
  }
}
