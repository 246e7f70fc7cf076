import type { StoreLedgerState } from "budgetgate/store";
import { Amount, sumUnits } from "./amount.js";
import type { Budget } from "./budget.js";
import type { Ledger } from "./ledger.js";
import type { Limit } from "./limit.js";
import { BlockReason, Mode, Status } from "./modes.js";

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

/** What every {@link Decision} is made with: the verdict and whom it concerns. */
export interface DecisionCore {
  /** ALLOW or BLOCK. */
  readonly status: Status;
  /** The ledger decided on. */
  readonly ledger: Ledger;
  /** The budget it was held to. */
  readonly budget: Budget;
  /** Null for a plain ALLOW; BUDGET_EXCEEDED or STORE_ERROR. */
  readonly reason: BlockReason | null;
  /** The amount asked for. */
  readonly requested: Amount;
  /** Each ledger's decision when several were charged together; default: the decision itself. */
  readonly perLedger?: readonly Decision[];
  /** True if some limit, shadow limits included, had no room; default: blocked. */
  readonly wouldBlock?: boolean;
}

/** The numbers of a {@link Decision}, which it may also compute on first read. */
export interface DecisionDetails {
  /** Human-readable explanation; null for a plain ALLOW. */
  readonly message: string | null;
  /** Spend in the window at decision time, holds included (with the request if it was recorded). */
  readonly spentInWindow: Amount;
  /** `maxSpend − spentInWindow`, never below zero. */
  readonly remaining: Amount;
  /** The ledger's limits, each with its spend; default none (a store failure). */
  readonly limits?: readonly LimitDecision[];
  /** The limit the amounts are those of; default the budget's first. */
  readonly limit?: Limit;
  /** When the request could first fit, for a decision that blocked or would have; default null. */
  readonly resetsAt?: number | null;
}

/**
 * Fields of a {@link Decision}: its core, and its details either given or as a function that
 * computes them on first read (most callers read only `allowed`).
 */
export type DecisionInit = DecisionCore &
  (
    | DecisionDetails
    | {
        /** Computes the details the first time one of them is read. */
        readonly details: () => DecisionDetails;
      }
  );

/** One limit's part of a decision on one ledger. */
export interface LimitDecision {
  /** The limit. */
  readonly limit: Limit;
  /** Spend in its window (or period) at decision time, holds included, with the request if it was recorded. */
  readonly spent: Amount;
  /** `maxSpend − spent`, never below zero. */
  readonly remaining: Amount;
  /** True if the request did not fit this limit (for a shadow limit: would have blocked). */
  readonly blocked: boolean;
  /** False for a shadow limit (its own `shadow`, or a SHADOW budget): it never blocks. */
  readonly enforced: boolean;
  /**
   * For a limit that blocked: the earliest time, in seconds on the store's clock, at which the same
   * request could fit it. Exact for a calendar period (its end); for a rolling window an upper
   * bound (when every spend now in the window has left it). Null when it did not block, for a
   * lifetime limit, when the request is above `maxSpend`, or when holds alone leave no room (it
   * then depends on when they are settled).
   */
  readonly resetsAt: number | null;
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
  /** The amount asked for: the cost, or the estimate held. */
  readonly requested: Amount;
  /** True if some limit had no room: a BLOCK, or an ALLOW past a shadow limit. */
  readonly wouldBlock: boolean;
  #perLedger: readonly Decision[] | undefined;
  /** The details, or the init that computes them on first read (kept whole: its `details` may be a method). */
  #details: DecisionDetails | { readonly details: () => DecisionDetails };

  constructor(init: DecisionInit) {
    this.status = init.status;
    this.ledger = init.ledger;
    this.budget = init.budget;
    this.reason = init.reason;
    this.requested = init.requested;
    this.#perLedger = init.perLedger;
    this.wouldBlock = init.wouldBlock ?? init.status === Status.BLOCK;
    this.#details = init;
  }

  get #numbers(): DecisionDetails {
    let details = this.#details;
    if ("details" in details) {
      details = details.details();
      this.#details = details;
    }
    return details;
  }

  /** One decision per ledger, in the order they were given; a single-ledger decision lists itself. */
  get perLedger(): readonly Decision[] {
    // Made on first read: most callers of a single-ledger decision never look.
    this.#perLedger ??= [this];
    return this.#perLedger;
  }

  /** Human-readable explanation; null for a plain ALLOW. */
  get message(): string | null {
    return this.#numbers.message;
  }

  /** Spend in the window at decision time, holds included: with this request if it was recorded (0 on a store failure). */
  get spentInWindow(): Amount {
    return this.#numbers.spentInWindow;
  }

  /** `maxSpend − spentInWindow`, never below zero (0 on a store failure). */
  get remaining(): Amount {
    return this.#numbers.remaining;
  }

  /** Each limit of this ledger's budget, with its spend and room; empty on a store failure. */
  get limits(): readonly LimitDecision[] {
    return this.#numbers.limits ?? [];
  }

  /**
   * The limit `spentInWindow` and `remaining` are those of: among enforced limits (all limits, for a
   * SHADOW budget) the one with the least remaining, which is one that blocked if any did.
   */
  get limit(): Limit {
    return this.#numbers.limit ?? (this.budget.limits[0] as Limit);
  }

  /**
   * For a decision that blocked (or, on an ALLOW, would have: {@link wouldBlock}), the earliest
   * time in seconds on the store's clock at which the same request could fit every limit that
   * stopped it; null otherwise or when that cannot be known (see {@link LimitDecision.resetsAt}).
   * `new Date(resetsAt * 1000)` when the store uses wall-clock time.
   */
  get resetsAt(): number | null {
    return this.#numbers.resetsAt ?? null;
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
 * Builds the decision for one ledger from its state before the request, as a store reported it
 * (units of 10⁻¹⁸, of any size: over-estimate commits may take a total past 38 digits), at the
 * store's time `now`. `recorded` says whether the request was recorded: a ledger with room is not
 * charged when another ledger of the same call blocked. Amounts print with the scale of the limit
 * and request.
 */
export function budgetDecision(
  ledger: Ledger,
  budget: Budget,
  requested: Amount,
  state: StoreLedgerState,
  recorded: boolean,
  now: number,
): Decision {
  // The verdict now; the numbers only if someone reads them.
  const limits = budget.limits;
  const shadowBudget = budget.mode === Mode.SHADOW;
  const held = sumUnits(state.reserved, requested.units);
  let blocked = false;
  let wouldBlock = false;
  for (let j = 0; j < limits.length; j++) {
    const limit = limits[j] as Limit;
    if ((state.committed[j] as bigint) > limit.ceiling(held)) {
      wouldBlock = true;
      if (!shadowBudget && !limit.shadow) blocked = true;
    }
  }
  return new Decision(new LedgerAnswer(ledger, budget, requested, state, recorded, now, blocked, wouldBlock));
}

/**
 * A store's answer for one ledger, as the init of its decision: the decision keeps it and computes
 * its numbers from it on first read. One object where a closure would cost two (and, in a build
 * that keeps function names, a `name` property set on every one).
 */
class LedgerAnswer implements DecisionCore {
  readonly status: Status;
  readonly reason: BlockReason | null;

  constructor(
    readonly ledger: Ledger,
    readonly budget: Budget,
    readonly requested: Amount,
    readonly state: StoreLedgerState,
    readonly recorded: boolean,
    readonly now: number,
    readonly blocked: boolean,
    readonly wouldBlock: boolean,
  ) {
    this.status = blocked ? Status.BLOCK : Status.ALLOW;
    this.reason = wouldBlock ? BlockReason.BUDGET_EXCEEDED : null;
  }

  details(): DecisionDetails {
    const { budget, requested, state, recorded, now, blocked, wouldBlock } = this;
    return limitDetails(budget, requested, state, recorded, now, blocked, wouldBlock);
  }
}

/** The per-limit numbers of a decision made by {@link budgetDecision}. */
function limitDetails(
  budget: Budget,
  requested: Amount,
  state: StoreLedgerState,
  recorded: boolean,
  now: number,
  blocked: boolean,
  wouldBlock: boolean,
): DecisionDetails {
  const shadowBudget = budget.mode === Mode.SHADOW;
  const parts = budget.limits.map((limit, j): LimitDecision => {
    const beforeUnits = (state.committed[j] as bigint) + state.reserved;
    const fits = beforeUnits + requested.units <= limit.maxSpend.units;
    const scale = Math.max(limit.maxSpend.scale, requested.scale);
    const spent = Amount.fromUnits(recorded ? beforeUnits + requested.units : beforeUnits, scale);
    return {
      limit,
      spent,
      remaining: limit.maxSpend.minus(spent).clampToZero(),
      blocked: !fits,
      enforced: !shadowBudget && !limit.shadow,
      resetsAt: fits ? null : resetTime(limit, requested, state, now),
    };
  });
  const lead = leadLimit(budget, parts);
  const main = parts[lead] as LimitDecision;
  // The message names the limit whose figures the decision reports when it blocked, so that the
  // record's message, spent_in_window and remaining agree; on an ALLOW past a shadow limit, the
  // first shadow limit that would have blocked.
  const stopper = !wouldBlock ? -1 : main.blocked ? lead : parts.findIndex((part) => part.blocked);
  return {
    message: stopper < 0 ? null : exceeded(parts[stopper] as LimitDecision, state, stopper, requested, blocked),
    spentInWindow: main.spent,
    remaining: main.remaining,
    limits: parts,
    limit: main.limit,
    resetsAt: wouldBlock ? latestReset(parts, blocked) : null,
  };
}

/**
 * Which limit a ledger's figures are those of: among enforced limits (every limit, for a SHADOW
 * budget or one whose limits are all shadow limits) the one with the least remaining, the first on
 * a tie. A limit that blocked has less room than the request and every limit that did not has at
 * least that much, so the lead is one that blocked whenever one did.
 */
export function leadLimit(
  budget: Budget,
  parts: readonly { readonly limit: Limit; readonly remaining: Amount }[],
): number {
  const all = budget.mode === Mode.SHADOW || budget.limits.every((limit) => limit.shadow);
  let lead = -1;
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j] as (typeof parts)[number];
    if (!all && part.limit.shadow) continue;
    if (lead < 0 || part.remaining.lt((parts[lead] as (typeof parts)[number]).remaining)) lead = j;
  }
  return lead;
}

function exceeded(
  part: LimitDecision,
  state: StoreLedgerState,
  j: number,
  requested: Amount,
  enforced: boolean,
): string {
  const { limit } = part;
  const scale = Math.max(limit.maxSpend.scale, requested.scale);
  const before = Amount.fromUnits((state.committed[j] as bigint) + state.reserved, scale);
  const which = state.committed.length === 1 ? "" : ` (${describeWindow(limit)} limit)`;
  const head = enforced ? "Budget exceeded" : "Shadow limit exceeded, not enforced";
  return `${head}: ${before} + ${requested} > ${limit.maxSpend}${which}`;
}

/** How a limit's window reads in a message: "60 s", "calendar month in UTC", "lifetime". */
export function describeWindow(limit: Limit): string {
  const window = limit.window;
  if (window === null) return "lifetime";
  if (typeof window === "number") return `${window} s`;
  return `calendar ${window.calendar} in ${window.timeZone}`;
}

function resetTime(limit: Limit, requested: Amount, state: StoreLedgerState, now: number): number | null {
  const max = limit.maxSpend.units;
  if (requested.units > max || state.reserved + requested.units > max) return null;
  const window = limit.window;
  if (window === null) return null;
  if (typeof window === "number") return state.newest === null ? null : state.newest + window;
  return limit.periodEnd(now);
}

function latestReset(parts: readonly LimitDecision[], enforcedOnly: boolean): number | null {
  let latest: number | null = null;
  for (const part of parts) {
    if (!part.blocked || (enforcedOnly && !part.enforced)) continue;
    if (part.resetsAt === null) return null;
    if (latest === null || part.resetsAt > latest) latest = part.resetsAt;
  }
  return latest;
}

/**
 * Builds the decision for one ledger when the store failed, per the budget's `onStoreError`. The
 * message begins as the original package's does: `Store error (fail-open): …`.
 */
export function storeErrorDecision(ledger: Ledger, budget: Budget, requested: Amount, error: unknown): Decision {
  // A SHADOW budget never blocks, not even when its store fails.
  const shadow = budget.mode === Mode.SHADOW;
  const open = shadow || budget.onStoreError === "FAIL_OPEN";
  const why = error instanceof Error ? error.message : String(error);
  return new Decision({
    status: open ? Status.ALLOW : Status.BLOCK,
    ledger,
    budget,
    reason: BlockReason.STORE_ERROR,
    message: `Store error (${shadow ? "shadow" : open ? "fail-open" : "fail-closed"}): ${why}`,
    spentInWindow: Amount.ZERO,
    requested,
    remaining: Amount.ZERO,
  });
}

/**
 * Folds per-ledger decisions into one: allowed only if all allowed; it reports the first ledger
 * that blocked, else the first that would have (a shadow limit), else the one with the least
 * remaining.
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
    if (part.wouldBlock ? !lead.wouldBlock : !lead.wouldBlock && part.remaining.lt(lead.remaining)) lead = part;
  }
  return new Decision({
    status: lead.status,
    ledger: lead.ledger,
    budget: lead.budget,
    reason: lead.reason,
    requested: lead.requested,
    wouldBlock: lead.wouldBlock,
    perLedger: parts,
    details: () => ({
      message: lead.message,
      spentInWindow: lead.spentInWindow,
      remaining: lead.remaining,
      limits: lead.limits,
      limit: lead.limit,
      resetsAt: lead.resetsAt,
    }),
  });
}
