/**
 * `budgetgate`: the core an application needs: the engine that decides, amounts, ledgers, budgets,
 * decisions, guards, errors and the in-memory store. Store authors find the `Store` interface and
 * the conformance suite on `budgetgate/store`. See docs/semantics.md for the contract.
 *
 * @module budgetgate
 */
export { Amount, type AmountInput, type AmountOptions, DECIMALS, MAX_UNITS } from "./amount.js";
export {
  Budget,
  type BudgetJSON,
  type BudgetOptions,
  MAX_DURATION_SECONDS,
  type MultiLimitBudgetOptions,
  type SingleLimitBudgetOptions,
} from "./budget.js";
export type { CalendarUnit } from "./calendar.js";
export { type Clock, monotonicClock } from "./clock.js";
export {
  DECISION_SCHEMA_VERSION,
  Decision,
  type DecisionCore,
  type DecisionDetails,
  type DecisionInit,
  type DecisionRecord,
  type LimitDecision,
} from "./decision.js";
export {
  DEFAULT_LATE_COMMIT_WINDOW,
  DEFAULT_RESERVATION_TTL,
  DEFAULT_STORE_TIMEOUT_MS,
  type DecisionListener,
  Engine,
  type EngineOptions,
  type LedgerQuery,
  type LedgerTarget,
  type LedgerUsage,
  type LimitUsage,
  MAX_STORE_TIMEOUT_MS,
  type ReserveOutcome,
  type Targets,
  type ThresholdEvent,
  type ThresholdListener,
} from "./engine.js";
export {
  ActualCostError,
  BudgetExceeded,
  BudgetExceededError,
  BudgetGateError,
  ConfigurationError,
  InvalidAmountError,
  InvalidBudgetError,
  InvalidLedgerError,
  PeriodRangeError,
  ReservationNotFoundError,
  StateError,
  StoreError,
  StoreTimeoutError,
} from "./errors.js";
export type { AmountSelector, BoundedGuardOptions, FixedGuardOptions, Guard, LedgerSelector } from "./guards.js";
export { Ledger, MAX_LEDGER_KEY_BYTES } from "./ledger.js";
export {
  type CalendarWindow,
  Limit,
  type LimitJSON,
  type LimitOptions,
  type LimitWindow,
  MAX_LIMITS,
} from "./limit.js";
export { BlockReason, Mode, Status, StoreErrorMode } from "./modes.js";
export { Reservation, type Settlement } from "./reservation.js";
export { Result } from "./result.js";
export { MemoryStore } from "./stores/memory/index.js";
