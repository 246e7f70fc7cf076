import type { Decision } from "./decision.js";
import { BudgetExceededError } from "./errors.js";

/**
 * What a result-returning guard gives back instead of throwing: the decision and, if the action
 * ran, its value. A guarded function that returns `undefined` still has a value (`hasValue` is true).
 *
 * @example
 * const result = await summarize("…");
 * if (result.ok) use(result.value); else console.log(result.decision.message);
 * const text = result.unwrapOr("(over budget)");
 */
export class Result<T> {
  /** The decision that let the action run, or blocked it. */
  readonly decision: Decision;
  readonly #ran: boolean;
  readonly #value: T | undefined;

  private constructor(decision: Decision, ran: boolean, value: T | undefined) {
    this.decision = decision;
    this.#ran = ran;
    this.#value = value;
  }

  /** A result whose action ran and returned `value`. */
  static of<T>(decision: Decision, value: T): Result<T> {
    return new Result<T>(decision, true, value);
  }

  /** A result whose action was blocked. */
  static blocked<T>(decision: Decision): Result<T> {
    return new Result<T>(decision, false, undefined);
  }

  /** True if the decision allowed the action. */
  get ok(): boolean {
    return this.decision.allowed;
  }

  /** True if the action ran and returned (even `undefined`). */
  get hasValue(): boolean {
    return this.#ran;
  }

  /** The action's value, or undefined when it was blocked. */
  get value(): T | undefined {
    return this.#value;
  }

  /**
   * The value.
   * @throws {BudgetExceededError} if the action was blocked.
   */
  unwrap(): T {
    if (!this.#ran) throw new BudgetExceededError(this.decision);
    return this.#value as T;
  }

  /** The value, or `fallback` if the action was blocked. */
  unwrapOr<F>(fallback: F): T | F {
    return this.#ran ? (this.#value as T) : fallback;
  }
}
