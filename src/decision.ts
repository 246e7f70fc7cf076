import { Amount } from "./amount.js";
import type { Budget } from "./budget.js";
import type { Ledger } from "./ledger.js";
import { BlockReason, Status } from "./modes.js";

/** Version of the serialised decision record, `budgetgate-decision.schema.json`. */
export const DECISION_SCHEMA_VERSION = "0.2.2";

/** The JSON record of a decision (`budgetgate-decision.schema.json`, version 0.2.2). */
export interface DecisionRecord {
  /** The record format's version, `"0.2.2"`. */
  readonly schema_version: typeof DECISION_SCHEMA_VERSION;
  /** `"ALLOW"` or `"BLOCK"`. */
  readonly status: Status;
  /** The ledger's string form, `namespace:resource@principal`. */
  readonly ledger: string;
  /** `null` for a plain allow; `"BUDGET_EXCEEDED"` or `"STORE_ERROR"`. */
  readonly reason: BlockReason | null;
  /** Human-readable explanation; `null` for a plain allow. */
  readonly message: string | null;
  /** Spend in the window at decision time, holds included (with the request if it was recorded), as a decimal string. */
  readonly spent_in_window: string;
  /** The amount asked for, as a decimal string. */
  readonly requested: string;
  /** `maxSpend − spent_in_window`, never below zero, as a decimal string. */
  readonly remaining: string;
}

/** Fields of a {@link Decision}. */
export interface DecisionInit {
  /** ALLOW or BLOCK. */
  readonly status: Status;
  /** The ledger decided on. */
  readonly ledger: Ledger;
  /** The budget it was held to. */
  readonly budget: Budget;
  /** Null for a plain ALLOW; BUDGET_EXCEEDED or STORE_ERROR. */
  readonly reason: BlockReason | null;
  /** Human-readable explanation; null for a plain ALLOW. */
  readonly message: string | null;
  /** Spend in the window at decision time, holds included (with the request if it was recorded). */
  readonly spentInWindow: Amount;
  /** The amount asked for. */
  readonly requested: Amount;
  /** `maxSpend − spentInWindow`, never below zero. */
  readonly remaining: Amount;
  /** Each ledger's decision when several were charged together; default: the decision itself. */
  readonly perLedger?: readonly Decision[];
}

/**
 * The verdict on one request: ALLOW or BLOCK, why, and the numbers behind it.
 *
 * `spentInWindow` is the spend in the window at decision time, holds included, as the original
 * package reports it: after an ALLOW it includes the amount just recorded or held; after a BLOCK
 * nothing was recorded, so it is the spend before the request. `remaining` is
 * `maxSpend − spentInWindow`, never below zero. When several ledgers were charged together, the
 * decision is that of the ledger that blocked (or, when all allowed, the one with the least left),
 * and `perLedger` holds each one's; when one blocked, nothing was recorded on the others either,
 * so theirs report the spend before the request. On a store failure the store could not say what
 * was spent: `spentInWindow` and `remaining` are 0.
 *
 * @example
 * const decision = await engine.check(ledger, "0.03"); // the first call on a 10.00 budget
 * decision.spentInWindow.toString(); // "0.03"
 * decision.remaining.toString();     // "9.97"
 * JSON.stringify(decision); // {"schema_version":"0.2.2","status":"ALLOW",…,"spent_in_window":"0.03",…}
 */
export class Decision {
  /** ALLOW or BLOCK. */
  readonly status: Status;
  /** The ledger decided on (with several, the one that blocked, or the one with the least left). */
  readonly ledger: Ledger;
  /** The budget that ledger was held to. */
  readonly budget: Budget;
  /** Null for a plain ALLOW; BUDGET_EXCEEDED, or STORE_ERROR (for a block and for a fail-open allow). */
  readonly reason: BlockReason | null;
  /** Human-readable explanation; null for a plain ALLOW. */
  readonly message: string | null;
  /** Spend in the window at decision time, holds included: with this request if it was recorded (0 on a store failure). */
  readonly spentInWindow: Amount;
  /** The amount asked for: the cost, or the estimate held. */
  readonly requested: Amount;
  /** `maxSpend − spentInWindow`, never below zero (0 on a store failure). */
  readonly remaining: Amount;
  /** One decision per ledger, in the order they were given; a single-ledger decision lists itself. */
  readonly perLedger: readonly Decision[];

  constructor(init: DecisionInit) {
    this.status = init.status;
    this.ledger = init.ledger;
    this.budget = init.budget;
    this.reason = init.reason;
    this.message = init.message;
    this.spentInWindow = init.spentInWindow;
    this.requested = init.requested;
    this.remaining = init.remaining;
    this.perLedger = init.perLedger ?? [this];
  }

  /** True when the action may run. */
  get allowed(): boolean {
    return this.status === Status.ALLOW;
  }

  /** True when the action must not run. */
  get blocked(): boolean {
    return this.status === Status.BLOCK;
  }

  /** The record of `budgetgate-decision.schema.json`: snake_case keys, amounts as decimal strings. */
  toJSON(): DecisionRecord {
    return {
      schema_version: DECISION_SCHEMA_VERSION,
      status: this.status,
      ledger: this.ledger.toString(),
      reason: this.reason,
      message: this.message,
      spent_in_window: this.spentInWindow.toString(),
      requested: this.requested.toString(),
      remaining: this.remaining.toString(),
    };
  }
}

/**
 * Builds the decision for one ledger from the spend a store reported before the request
 * (`beforeUnits`, 10⁻¹⁸ units, of any size: over-estimate commits may take a total past 38
 * digits). `recorded` says whether the request was recorded: a ledger with room is not charged
 * when another ledger of the same call blocked. Amounts print with the scale of the budget and
 * request.
 */
export function budgetDecision(
  ledger: Ledger,
  budget: Budget,
  requested: Amount,
  beforeUnits: bigint,
  recorded: boolean,
): Decision {
  const scale = Math.max(budget.maxSpend.scale, requested.scale);
  const before = Amount.fromUnits(beforeUnits, scale);
  const fits = beforeUnits + requested.units <= budget.maxSpend.units;
  const spent = recorded ? before.plus(requested) : before;
  return new Decision({
    status: fits ? Status.ALLOW : Status.BLOCK,
    ledger,
    budget,
    reason: fits ? null : BlockReason.BUDGET_EXCEEDED,
    message: fits ? null : `Budget exceeded: ${before} + ${requested} > ${budget.maxSpend}`,
    spentInWindow: spent,
    requested,
    remaining: budget.maxSpend.minus(spent).clampToZero(),
  });
}

/**
 * Builds the decision for one ledger when the store failed, per the budget's `onStoreError`. The
 * message begins as the original package's does: `Store error (fail-open): …`.
 */
export function storeErrorDecision(ledger: Ledger, budget: Budget, requested: Amount, error: unknown): Decision {
  const open = budget.onStoreError === "FAIL_OPEN";
  const why = error instanceof Error ? error.message : String(error);
  return new Decision({
    status: open ? Status.ALLOW : Status.BLOCK,
    ledger,
    budget,
    reason: BlockReason.STORE_ERROR,
    message: `Store error (${open ? "fail-open" : "fail-closed"}): ${why}`,
    spentInWindow: Amount.ZERO,
    requested,
    remaining: Amount.ZERO,
  });
}

/**
 * Folds per-ledger decisions into one: allowed only if all allowed; it reports the first ledger
 * that blocked, or, when all allowed, the one with the least remaining.
 */
export function combineDecisions(parts: readonly Decision[]): Decision {
  const [first] = parts;
  if (first === undefined) throw new Error("combineDecisions needs at least one decision");
  if (parts.length === 1) return first;
  let lead = first;
  for (const part of parts) {
    if (part.blocked) {
      lead = part;
      break;
    }
    if (part.remaining.lt(lead.remaining)) lead = part;
  }
  return new Decision({ ...lead, status: lead.status, perLedger: parts });
}
