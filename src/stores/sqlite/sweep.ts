import { Account } from "./accounts.js";
import type { Statements } from "./statements.js";

/** Ledgers looked at per call, at most: the sweep's work per call is bounded whatever is due. */
const SWEEP_LEDGERS = 4;

/**
 * Forgets what stopped counting on ledgers no call touches any more, through the partial index on
 * `sweep_at` (no scan): a ledger that went idle (see {@link Account.idle}) is deleted with its
 * totals and log, `batch` log rows per call; a ledger that keeps a lifetime total loses the log
 * rows that left its windows, and its ended calendar totals. Runs in every transaction, after
 * holds expired, so that a hold never keeps a ledger.
 */
export function sweepLedgers(sql: Statements, now: number, batch: number): void {
  for (const id of sql.dueLedgers.all(now, SWEEP_LEDGERS)) {
    const row = sql.ledgerById.get(id);
    if (row === undefined) continue;
    const account = Account.from(sql, row);
    account.open(sql, now);
    if (account.idle()) {
      const last = sql.nthOldest.get(id, batch - 1);
      // Still due: the next call deletes the next batch.
      if (last !== undefined) sql.deleteThrough.run(id, last.t, last.seq);
      else {
        sql.deleteSpends.run(id);
        sql.deleteTotals.run(id);
        sql.deleteLedgerById.run(id);
      }
      continue;
    }
    account.prune(sql, batch, 1);
    account.save(sql);
    // Nothing left to do before it changes again: a ledger that is due for ever would take a place
    // in every call's batch.
    if (account.gone >= account.floorSeq && account.sweepAt !== null && account.sweepAt < now) sql.unschedule.run(id);
  }
}
