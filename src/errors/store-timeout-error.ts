import { StoreError } from "./store-error.js";

/**
 * A store call passed its deadline (the engine's `storeTimeoutMs`) without an answer, on every
 * store alike: the engine's own timer, a lock wait that ran out, or a server that found the call
 * late. `operation` names the store method (`"charge"`, `"commit"`, `"spent"`, …).
 *
 * @example
 * new Engine({ store, storeTimeoutMs: 50 }); // calls slower than 50 ms fail with StoreTimeoutError
 */
export class StoreTimeoutError extends StoreError {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static override readonly brand: string = "budgetgate.StoreTimeoutError";
  /** The class name, which `error.name` and logs show. */
  override name = "StoreTimeoutError";
  /** The store operation that ran out of time. */
  readonly operation: string;
  /** The timeout that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number, detail?: string, options?: { cause?: unknown }) {
    super(`Store ${operation} did not answer within ${timeoutMs} ms${detail ? `: ${detail}` : ""}`, options);
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}
