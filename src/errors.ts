// One error class per file under errors/; this file is what the rest of the core imports.
export { ActualCostError } from "./errors/actual-cost-error.js";
export { BudgetExceeded, BudgetExceededError } from "./errors/budget-exceeded-error.js";
export { BudgetGateError } from "./errors/budget-gate-error.js";
export { ConfigurationError } from "./errors/configuration-error.js";
export { InvalidAmountError } from "./errors/invalid-amount-error.js";
export { InvalidBudgetError } from "./errors/invalid-budget-error.js";
export { InvalidLedgerError } from "./errors/invalid-ledger-error.js";
export { PeriodRangeError } from "./errors/period-range-error.js";
export { ReservationNotFoundError } from "./errors/reservation-not-found-error.js";
export { StateError } from "./errors/state-error.js";
export { StoreError } from "./errors/store-error.js";
export { StoreTimeoutError } from "./errors/store-timeout-error.js";
