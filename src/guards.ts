import { type Awaitable, show } from "budgetgate/store";
import { Amount, type AmountInput } from "./amount.js";
import type { Budget } from "./budget.js";
import type { Decision } from "./decision.js";
import type { Engine, Targets } from "./engine.js";
import { ActualCostError, BudgetExceededError, ConfigurationError } from "./errors.js";
import { isPromiseLike } from "./promise-like.js";
import { Result } from "./result.js";

/** The ledger(s) a guarded call is charged to: fixed, or a function of the call's arguments. */
export type LedgerSelector<A extends unknown[]> = Targets | ((...args: A) => Targets);

/**
 * An amount: fixed, or a function of the call's arguments. The arguments' types come from the
 * ledger selector (when it is a function); the amount function may take fewer of them.
 */
export type AmountSelector<A extends unknown[]> = AmountInput | ((...args: CallArgs<A>) => AmountInput);

/** The arguments of a guarded call: those the ledger selector names, and possibly more. */
type CallArgs<A extends unknown[]> = [...A, ...never[]];

/** Options of `engine.guard` and `engine.guardResult`. */
export interface FixedGuardOptions<A extends unknown[]> {
  /** The cost of one call, checked and recorded before the call runs. */
  readonly cost: AmountSelector<A>;
}

/** Options of `engine.guardBounded` and `engine.guardBoundedResult`. */
export interface BoundedGuardOptions<A extends unknown[], R> {
  /** Upper bound of one call's cost, reserved before the call runs. */
  readonly estimate: AmountSelector<A>;
  /**
   * The actual cost, from the call's result (and arguments), committed after it returns. If it
   * throws or returns something that is not an amount, the estimate is committed instead and the
   * call throws {@link ActualCostError}, which carries the result.
   */
  readonly actual: (result: R, ...args: CallArgs<A>) => AmountInput | PromiseLike<AmountInput>;
}

type Outcome<T, AsResult extends boolean> = AsResult extends true ? Result<T> : T;

/**
 * What the `guard*` methods return. Apply it to a function (sync or async) to get a guarded async
 * function with the same parameters, or use it as a TypeScript 5 decorator on an async method.
 *
 * @example
 * const guarded = engine.guard(ledger, budget, { cost: "0.01" })(async (q: string) => search(q));
 * class Agent {
 *   \@engine.guard(ledger, budget, { cost: "0.01" })
 *   async search(q: string) { return search(q); }
 * }
 */
export interface Guard<A extends unknown[], R = unknown, AsResult extends boolean = false> {
  /**
   * Guards a function.
   * @typeParam F - the function guarded.
   */
  <F extends (...args: [...A, ...never[]]) => R | PromiseLike<R>>(
    fn: F,
  ): (...args: Parameters<F>) => Promise<Outcome<Awaited<ReturnType<F>>, AsResult>>;
  /**
   * Guards an async method, as a TypeScript 5 decorator.
   * @typeParam This - the class the method belongs to.
   * @typeParam F - the method guarded.
   */
  <This, F extends (this: This, ...args: [...A, ...never[]]) => R | PromiseLike<R>>(
    method: F,
    context: ClassMethodDecoratorContext<This, F>,
  ): (this: This, ...args: Parameters<F>) => Promise<Outcome<Awaited<ReturnType<F>>, AsResult>>;
}

type Runner = (fn: (...args: unknown[]) => unknown, self: unknown, args: unknown[]) => Promise<unknown>;

/**
 * @internal `engine.check`, but answering the decision as it is when the store answers
 * synchronously; it throws what check rejects with, at once.
 * @example const decision = checkNow(ledger, "0.03", budget); // a Decision from the memory store
 */
export type CheckNow = (targets: Targets, amount: AmountInput, budget: Budget | undefined) => Awaitable<Decision>;

/**
 * @internal Builds the fixed-cost guards. With a synchronous store (the memory store) the function
 * runs as soon as the decision is made, within the guarded call, as a direct call of it would run:
 * the guarded call then costs one promise, as a check does, instead of a chain of them.
 */
export function makeFixedGuard<A extends unknown[], AsResult extends boolean>(
  checkNow: CheckNow,
  ledger: LedgerSelector<A>,
  budget: Budget | undefined,
  options: FixedGuardOptions<A>,
  asResult: AsResult,
): Guard<A, unknown, AsResult> {
  const cost = fixedAmount(requireOption(options, "cost"));
  const proceed = (decision: Decision, fn: (...args: unknown[]) => unknown, self: unknown, args: unknown[]) => {
    if (decision.blocked) return blocked(decision, asResult);
    const value = fn.apply(self, args);
    if (!asResult) return value;
    return isPromiseLike(value)
      ? Promise.resolve(value).then((v) => Result.of(decision, v))
      : Result.of(decision, value);
  };
  return wrapper((fn, self, args) => {
    try {
      const decision = checkNow(select(ledger, args), select(cost, args), budget);
      if (isPromiseLike<Decision>(decision)) return Promise.resolve(decision).then((d) => proceed(d, fn, self, args));
      return Promise.resolve(proceed(decision, fn, self, args));
    } catch (error) {
      return Promise.reject(error);
    }
  });
}

/** @internal Builds the bounded-cost guards. */
export function makeBoundedGuard<A extends unknown[], R, AsResult extends boolean>(
  engine: Engine,
  ledger: LedgerSelector<A>,
  budget: Budget | undefined,
  options: BoundedGuardOptions<A, R>,
  asResult: AsResult,
): Guard<A, R, AsResult> {
  const estimate = fixedAmount(requireOption(options, "estimate"));
  if (typeof options.actual !== "function") {
    throw new ConfigurationError(`Invalid guard option actual ${show(options.actual)}: expected (result) => cost`);
  }
  return wrapper(async (fn, self, args) => {
    const { reservation, decision } = await engine.reserve(select(ledger, args), select(estimate, args), budget);
    if (reservation === null) return blocked(decision, asResult);
    let value: unknown;
    try {
      value = await fn.apply(self, args);
    } catch (error) {
      // The caller needs the action's own error; an unreleased hold only over-counts until its TTL.
      await engine.release(reservation).catch(() => undefined);
      throw error;
    }
    // The action ran, so it may have spent money: from here on the hold is committed, never released.
    const cost = await actualCost(options.actual, value as R, args as CallArgs<A>);
    if (!(cost instanceof Amount)) {
      const settlement = await engine.commit(reservation, reservation.estimate);
      throw new ActualCostError(value, settlement, cost.failure, cost.cause);
    }
    await engine.commit(reservation, cost);
    return asResult ? Result.of(decision, value) : value;
  });
}

/** `actual`'s amount (rounded up, as commit rounds it), or how it failed. */
async function actualCost<A extends unknown[], R>(
  actual: BoundedGuardOptions<A, R>["actual"],
  value: R,
  args: CallArgs<A>,
): Promise<Amount | { failure: "threw" | "returned an invalid amount"; cause: unknown }> {
  let returned: AmountInput;
  try {
    returned = await actual(value, ...args);
  } catch (cause) {
    return { failure: "threw", cause };
  }
  try {
    return Amount.from(returned, { round: "up" });
  } catch (cause) {
    return { failure: "returned an invalid amount", cause };
  }
}

function wrapper<G>(run: Runner): G {
  function guard(target: unknown, context?: unknown): unknown {
    if (typeof target !== "function") {
      throw new ConfigurationError(`A guard wraps a function or decorates a method, got ${show(target)}`);
    }
    const kind = (context as { kind?: unknown } | undefined)?.kind;
    if (context !== undefined && kind !== "method") {
      throw new ConfigurationError(`Guards decorate methods only, not a ${String(kind)}`);
    }
    const fn = target as (...args: unknown[]) => unknown;
    const guarded = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      return run(fn, this, args);
    };
    Object.defineProperty(guarded, "name", { value: fn.name });
    return guarded;
  }
  return guard as G;
}

function select<T, A extends unknown[]>(selector: T | ((...args: A) => T), args: unknown[]): T {
  return typeof selector === "function" ? (selector as (...args: unknown[]) => T)(...args) : selector;
}

function blocked(decision: Parameters<typeof Result.blocked>[0], asResult: boolean): Result<never> {
  if (asResult) return Result.blocked(decision);
  throw new BudgetExceededError(decision);
}

function requireOption<O extends object, K extends keyof O & string>(options: O, name: K): O[K] {
  if (typeof options !== "object" || options === null || !(name in options)) {
    throw new ConfigurationError(`Guard options need "${name}", got ${show(options)}`);
  }
  return options[name];
}

/** A fixed amount is parsed once, when the guard is made, so that a bad one fails there. */
function fixedAmount<A extends unknown[]>(selector: AmountSelector<A>): AmountSelector<A> {
  return typeof selector === "function" ? selector : Amount.from(selector);
}
