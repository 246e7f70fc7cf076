import {
  type Awaitable,
  type Store,
  type StoreCall,
  type StoreLedgerEntry,
  type StoreLedgerState,
  type StoreLine,
  type StorePage,
  type StoreVerdict,
  show,
} from "budgetgate/store";
import { Amount, type AmountInput } from "./amount.js";
import { Budget, MAX_DURATION_SECONDS } from "./budget.js";
import type { Clock } from "./clock.js";
import { budgetDecision, combineDecisions, type Decision, leadLimit, storeErrorDecision } from "./decision.js";
import {
  BudgetExceededError,
  ConfigurationError,
  PeriodRangeError,
  ReservationNotFoundError,
  StateError,
  StoreError,
  StoreTimeoutError,
} from "./errors.js";
import {
  type BoundedGuardOptions,
  type FixedGuardOptions,
  type Guard,
  type LedgerSelector,
  makeBoundedGuard,
  makeFixedGuard,
} from "./guards.js";
import { Ledger } from "./ledger.js";
import type { Limit } from "./limit.js";
import { BlockReason, Mode } from "./modes.js";
import { isPromiseLike } from "./promise-like.js";
import { Reservation, type Settlement } from "./reservation.js";
import { MemoryStore } from "./stores/memory/index.js";

/** A ledger, or a ledger with the budget to hold it to in this call. */
export type LedgerTarget =
  | Ledger
  | {
      /** The ledger charged. */
      readonly ledger: Ledger;
      /** The budget it is held to in this call, in place of the registered one. */
      readonly budget?: Budget | undefined;
    };

/** One target, or several charged together: allowed only if all have room, recorded on all or none. */
export type Targets = LedgerTarget | readonly LedgerTarget[];

/** Options of {@link Engine}. */
export interface EngineOptions {
  /** Where spend state lives. Default: a new {@link MemoryStore}. */
  readonly store?: Store;
  /**
   * Time in seconds. When given, every store decides by it (deterministic tests); when not, the
   * memory store uses a monotonic clock and shared stores their server's clock.
   */
  readonly clock?: Clock;
  /**
   * How long a store call may take before it counts as a failure, in ms. Default 1000; at most
   * {@link MAX_STORE_TIMEOUT_MS}, the longest delay a timer holds.
   */
  readonly storeTimeoutMs?: number;
  /**
   * Seconds an unsettled reservation holds headroom before it expires. Default 600; at most
   * {@link MAX_DURATION_SECONDS}.
   */
  readonly reservationTtl?: number;
  /**
   * Seconds after expiry during which a late commit is still recorded. Default 86400 (a day); at
   * most {@link MAX_DURATION_SECONDS}.
   */
  readonly lateCommitWindow?: number;
  /** Budgets to register up front, as `[ledger, budget]` pairs. */
  readonly budgets?: Iterable<readonly [Ledger, Budget]>;
}

/** What `engine.reserve` gives back. */
export interface ReserveOutcome {
  /** The hold, or null when the decision blocked. */
  readonly reservation: Reservation | null;
  /** The decision on the reservation. */
  readonly decision: Decision;
}

/** A function told of every decision. Its errors and slowness never affect the decision. */
export type DecisionListener = (decision: Decision) => unknown;

/** What a threshold listener hears: one alert level of one limit, reached from below. */
export interface ThresholdEvent {
  /** The ledger whose spend reached the level. */
  readonly ledger: Ledger;
  /** The budget the ledger was held to. */
  readonly budget: Budget;
  /** The limit whose level was reached. */
  readonly limit: Limit;
  /** The level, as given in the limit's `alerts` (0.8 for 80 %). */
  readonly level: number;
  /** Spend in the limit's window just after the operation, holds included. */
  readonly spent: Amount;
  /** The limit's `maxSpend`. */
  readonly maxSpend: Amount;
  /** The store's time of the operation, in seconds. */
  readonly at: number;
  /** What took spend past the level: an `engine.check` (or a fixed-cost guard), or a commit. */
  readonly operation: "check" | "commit";
}

/** A function told of every alert level reached. Its errors never affect the operation. */
export type ThresholdListener = (event: ThresholdEvent) => unknown;

/** One limit's spend, as {@link Engine.usage} and {@link Engine.ledgers} report it. */
export interface LimitUsage {
  /** The limit. */
  readonly limit: Limit;
  /** Spend in its window (or current period) now, holds included. */
  readonly spent: Amount;
  /** `maxSpend − spent`, never below zero. */
  readonly remaining: Amount;
}

/** A ledger's spend under a budget, per limit. */
export interface LedgerUsage {
  /** The ledger. */
  readonly ledger: Ledger;
  /** The budget the figures are for; for {@link Engine.ledgers}, the registered one or undefined. */
  readonly budget: Budget | undefined;
  /** Sum of the ledger's active holds (counted in every limit's `spent`). */
  readonly reserved: Amount;
  /** Per limit of `budget`, in order; empty without a budget. */
  readonly limits: readonly LimitUsage[];
  /** Every window the store keeps a total for, committed spend only, by window id (`Limit.windowId`). */
  readonly windows: ReadonlyMap<string, Amount>;
}

/** Which ledgers {@link Engine.ledgers} lists. */
export interface LedgerQuery {
  /** Only this namespace. */
  readonly namespace?: string;
  /** Only this resource (with a namespace, an indexed range; without one, a filter over every ledger). */
  readonly resource?: string;
  /** At most this many ledgers in all. */
  readonly limit?: number;
  /** Ledgers fetched from the store per round trip, 1 to 1000. Default 100. */
  readonly pageSize?: number;
}

/** Default `storeTimeoutMs`. */
export const DEFAULT_STORE_TIMEOUT_MS = 1000;
/** Default `reservationTtl`, in seconds. */
export const DEFAULT_RESERVATION_TTL = 600;
/** Default `lateCommitWindow`, in seconds. */
export const DEFAULT_LATE_COMMIT_WINDOW = 86_400;
/**
 * Largest `storeTimeoutMs`: 2³¹ − 1 ms (about 24.8 days), the longest delay `setTimeout` keeps.
 * Node cuts a longer one to 1 ms, which would fail every call while the store still records it.
 */
export const MAX_STORE_TIMEOUT_MS = 2_147_483_647;

/** Where a plan is kept for the next call (see `#onePlan`). */
interface PlanSlot {
  plan: Plan | null;
}

/** A ledger's registered budget, and the plan last made of it. */
interface Registration extends PlanSlot {
  readonly budget: Budget;
}

interface Plan {
  /**
   * Replaced (by {@link Engine.#periodicAgain}) when the store's time left the calendar periods
   * they carry, so that a kept plan carries periods around the store's time from then on.
   */
  lines: readonly StoreLine[];
  readonly budgets: readonly Budget[];
  /** True when some budget has a calendar limit: its lines carry periods around a time. */
  readonly calendar: boolean;
}

/**
 * Decides, records and enforces spend. One engine per store; share it across your app.
 *
 * @example
 * const engine = new Engine();
 * const ledger = new Ledger("openai", "gpt-4o", "user:123");
 * engine.register(ledger, new Budget({ maxSpend: "10.00", window: 3600 }));
 * const decision = await engine.check(ledger, "0.03");
 * engine.enforce(decision); // throws BudgetExceededError if blocked under a HARD budget
 */
export class Engine {
  /** The store decisions are made against. */
  readonly store: Store;
  readonly #clock: Clock | undefined;
  readonly #timeoutMs: number;
  readonly #ttl: number;
  readonly #retain: number;
  readonly #budgets = new Map<string, Registration>();
  /** The plan last made for a single ledger with a budget passed in the call. */
  readonly #passedPlan: PlanSlot = { plan: null };
  readonly #listeners = new Set<DecisionListener>();
  readonly #thresholdListeners = new Set<ThresholdListener>();
  /** The store's clock minus this host's, in seconds, as last seen: where calendar periods are computed. */
  #skew = 0;
  readonly #settledUnheld = new WeakSet<Reservation>();
  #listenerErrors = 0;

  /**
   * @throws {ConfigurationError} if an option is out of range: a `storeTimeoutMs` that is not above
   * 0 and at most {@link MAX_STORE_TIMEOUT_MS}, a `reservationTtl` or `lateCommitWindow` that is
   * not above 0 and at most {@link MAX_DURATION_SECONDS}.
   */
  constructor(options: EngineOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.#clock = options.clock;
    if (this.#clock !== undefined && typeof this.#clock !== "function") {
      throw new ConfigurationError(`Invalid clock ${show(this.#clock)}: expected a function returning seconds`);
    }
    this.#timeoutMs = bounded(
      "storeTimeoutMs",
      options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS,
      MAX_STORE_TIMEOUT_MS,
      "ms, the longest delay a timer holds",
    );
    this.#ttl = bounded("reservationTtl", options.reservationTtl ?? DEFAULT_RESERVATION_TTL, MAX_DURATION_SECONDS, "s");
    this.#retain = bounded(
      "lateCommitWindow",
      options.lateCommitWindow ?? DEFAULT_LATE_COMMIT_WINDOW,
      MAX_DURATION_SECONDS,
      "s",
    );
    for (const [ledger, budget] of options.budgets ?? []) this.register(ledger, budget);
  }

  /** How many times a decision listener threw or rejected. */
  get listenerErrors(): number {
    return this.#listenerErrors;
  }

  /**
   * Sets the budget a ledger is held to when a call passes none. Replaces an earlier one.
   * @throws {ConfigurationError} if `ledger` is not a Ledger or `budget` not a Budget.
   * @example engine.register(new Ledger("openai", "gpt-4o"), new Budget({ maxSpend: "100" }));
   */
  register(ledger: Ledger, budget: Budget): this {
    if (!(ledger instanceof Ledger)) throw new ConfigurationError(`register: expected a Ledger, got ${show(ledger)}`);
    if (!(budget instanceof Budget)) throw new ConfigurationError(`register: expected a Budget, got ${show(budget)}`);
    this.#budgets.set(ledger.toString(), { budget, plan: null });
    return this;
  }

  /** The budget registered for `ledger`, or undefined. @example engine.budgetFor(ledger)?.maxSpend */
  budgetFor(ledger: Ledger): Budget | undefined {
    return this.#budgets.get(ledger.toString())?.budget;
  }

  /**
   * Fixed cost: checks that `amount` fits every target's budget and records it, atomically.
   * A store failure (a {@link StoreError}: the backend unreachable, failing or too slow) gives a
   * STORE_ERROR decision per the budget's `onStoreError`.
   *
   * @param budget used for targets that carry no budget of their own; else the registered one.
   * @throws {InvalidAmountError} for a bad amount; {@link ConfigurationError} for a ledger with no
   * budget, the same ledger twice, or a store that is set up wrongly (no schema, a bad option);
   * {@link StateError} for store state that cannot be read; any other error a store throws,
   * unchanged. Nothing is recorded then, whatever `onStoreError` says.
   * @example
   * const d = await engine.check(new Ledger("openai", "embed"), "0.0001", new Budget({ maxSpend: "5" }));
   * d.allowed; // true
   */
  check(targets: Targets, amount: AmountInput, budget?: Budget): Promise<Decision> {
    // Not an async function: a synchronous store's decision is made here and then, and resolving
    // it once costs one promise where a chain of async steps cost one per step.
    try {
      return Promise.resolve(this.#checkNow(targets, amount, budget));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@link check}'s decision, as it is when the store answers synchronously. @throws like check, at once. */
  #checkNow(targets: Targets, amount: AmountInput, budget: Budget | undefined): Awaitable<Decision> {
    const plan = this.#plan(targets, budget);
    const requested = Amount.from(amount);
    return this.#decide(plan, requested, "charge", (lines, call) => this.store.charge(lines, requested.units, call));
  }

  /**
   * Bounded dynamic cost, step one: holds `estimate` on every target if it fits, atomically.
   * Commit the actual cost (≤ estimate) with {@link commit}, or {@link release} the hold.
   *
   * @throws like {@link check}.
   * @example
   * const { reservation } = await engine.reserve(ledger, "0.50", budget);
   */
  async reserve(targets: Targets, estimate: AmountInput, budget?: Budget): Promise<ReserveOutcome> {
    const plan = this.#plan(targets, budget);
    const requested = Amount.from(estimate);
    // The web-standard global, not node:crypto: the core loads on workerd and the Edge runtime as is.
    const id = globalThis.crypto.randomUUID();
    const hold = { id, ttl: this.#ttl, retain: this.#retain };
    const decision = await this.#decide(plan, requested, "reserve", (lines, call) =>
      this.store.reserve(lines, requested.units, hold, call),
    );
    if (!decision.allowed) return { reservation: null, decision };
    // Only a fail-open ALLOW (STORE_ERROR) holds nothing; one past a shadow limit holds like any other.
    const held = decision.reason !== BlockReason.STORE_ERROR;
    return { reservation: new Reservation(id, requested, plan.lines, plan.budgets, held), decision };
  }

  /**
   * Bounded dynamic cost, step two: replaces the hold by the actual cost. An actual cost with more
   * than 18 decimal places is rounded up. A commit after the hold expired is still recorded
   * (`late: true`); an actual above the estimate is recorded in full (`overEstimate: true`).
   *
   * @throws {ReservationNotFoundError} if the reservation was already committed or released (nothing changes);
   * {@link InvalidAmountError} for a bad actual; {@link StoreError} if the store failed.
   * @example
   * await engine.commit(reservation, "0.12");
   */
  async commit(reservation: Reservation, actual: AmountInput): Promise<Settlement> {
    checkReservation(reservation);
    const recorded = Amount.from(actual, { round: "up" });
    const overEstimate = recorded.gt(reservation.estimate);
    if (!reservation.held) return this.#settleUnheld(reservation, overEstimate);
    // Lines made afresh: a late commit may land periods after the reservation's.
    const plan = this.#planOf(reservation.lines, reservation.budgets);
    const outcome = await this.#periodic(plan, "commit", (lines, call) =>
      this.store.commit(reservation.id, lines, recorded.units, call),
    );
    checkStates(plan.lines, outcome.lines);
    // The hold being settled is not part of the spend before: a reservation crosses a level once,
    // by what it records, not once by its estimate and again by its actual.
    this.#alert(
      plan,
      outcome.lines,
      outcome.late ? 0n : reservation.estimate.units,
      recorded.units,
      outcome.now,
      "commit",
    );
    return { reservation, recorded, late: outcome.late, overEstimate };
  }

  /**
   * Bounded dynamic cost, on failure: drops the hold, recording nothing.
   *
   * @throws {ReservationNotFoundError} if already committed or released; {@link StoreError} if the store failed.
   * @example
   * await engine.release(reservation);
   */
  async release(reservation: Reservation): Promise<Settlement> {
    checkReservation(reservation);
    if (!reservation.held) return this.#settleUnheld(reservation, false);
    const outcome = await this.#invoke("release", (call) =>
      this.store.release(reservation.id, reservation.lines, call),
    );
    return { reservation, recorded: Amount.ZERO, late: outcome.late, overEstimate: false };
  }

  /**
   * Throws if `decision` blocked under a HARD budget; returns it otherwise (SOFT budgets, allows).
   *
   * @throws {BudgetExceededError} for a blocked decision whose blocking budget is HARD.
   * @example
   * engine.enforce(await engine.check(ledger, "0.03"));
   */
  enforce(decision: Decision): Decision {
    if (decision.perLedger.some((part) => part.blocked && part.budget.mode === Mode.HARD)) {
      throw new BudgetExceededError(decision);
    }
    return decision;
  }

  /**
   * What is left of the ledger's budget now: the least room of its enforced limits (of all its
   * limits, for a SHADOW budget), never below zero.
   * @throws {ConfigurationError} with no budget; {@link StoreError} if the store failed.
   * @example (await engine.remaining(ledger)).toString(); // "9.97"
   */
  async remaining(ledger: Ledger, budget?: Budget): Promise<Amount> {
    const usage = await this.usage(ledger, budget);
    return (usage.limits[leadOf(usage)] as LimitUsage).remaining;
  }

  /**
   * Spend in the window of the ledger's tightest limit (the one {@link remaining} reports), holds
   * included. {@link usage} gives every limit's.
   * @throws {ConfigurationError} with no budget; {@link StoreError} if the store failed.
   * @example (await engine.spent(ledger)).toString(); // "0.03"
   */
  async spent(ledger: Ledger, budget?: Budget): Promise<Amount> {
    const usage = await this.usage(ledger, budget);
    return (usage.limits[leadOf(usage)] as LimitUsage).spent;
  }

  /**
   * The ledger's spend now under its budget, limit by limit, holds included.
   * @throws {ConfigurationError} with no budget; {@link StoreError} if the store failed.
   * @example
   * const { limits } = await engine.usage(ledger);
   * limits.map((l) => `${l.limit.windowId}: ${l.spent} of ${l.limit.maxSpend}`);
   */
  async usage(ledger: Ledger, budget?: Budget): Promise<LedgerUsage> {
    const plan = this.#plan(ledger, budget);
    const reading = await this.#periodic(plan, "read", (lines, call) => this.store.read(lines[0] as StoreLine, call));
    const line = plan.lines[0] as StoreLine;
    const state = reading.state;
    checkStates(plan.lines, [state]);
    const windows = new Map<string, Amount>();
    line.limits.forEach((limit, j) => {
      windows.set(limit.window.id, Amount.fromUnits(state.committed[j] as bigint));
    });
    return usageOf(ledger, plan.budgets[0] as Budget, state.reserved, windows);
  }

  /**
   * Every ledger the store holds state for (or those of a namespace or resource), with its
   * registered budget where there is one and its spend per limit: what an operator's tooling
   * stands on. Fetched a page at a time (`pageSize`), never all at once; a ledger that changes
   * while the walk runs is listed with the figures of the page it was read on.
   *
   * @throws {InvalidLedgerError} for a namespace or resource a ledger could not have;
   * {@link ConfigurationError} for a bad `limit` or `pageSize`; {@link StoreError} if the store failed.
   * @example
   * for await (const view of engine.ledgers({ namespace: "openai" })) {
   *   const tight = view.limits.find((l) => l.remaining.isZero());
   *   if (tight) console.log(`${view.ledger} is at its ${tight.limit.windowId} cap`);
   * }
   */
  async *ledgers(query: LedgerQuery = {}): AsyncGenerator<LedgerUsage, void, undefined> {
    const { namespace, resource, limit, pageSize = 100 } = query;
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      throw new ConfigurationError(`Invalid ledgers limit ${show(limit)}: expected a whole number above 0`);
    }
    if (!(Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= 1000)) {
      throw new ConfigurationError(
        `Invalid ledgers pageSize ${show(pageSize)}: expected a whole number from 1 to 1000`,
      );
    }
    // A ledger made of the filters checks them as the fields of a real ledger would be checked.
    if (namespace !== undefined || resource !== undefined) new Ledger(namespace ?? "n", resource ?? "r");
    const prefix =
      namespace === undefined ? "" : resource === undefined ? `${namespace}:` : `${namespace}:${resource}@`;
    let cursor: string | null = null;
    let listed = 0;
    do {
      const after: string | null = cursor;
      const page: StorePage = await this.#invoke("scan", (call) =>
        this.store.scan({ prefix, cursor: after, limit: pageSize }, call),
      );
      for (const entry of page.entries) {
        if (resource !== undefined && entry.ledger.resource !== resource) continue;
        yield this.#view(entry);
        if (limit !== undefined && ++listed >= limit) return;
      }
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** Forgets one ledger's spends and holds. @throws {StoreError} if the store failed. */
  async clear(ledger: Ledger): Promise<void> {
    if (!(ledger instanceof Ledger)) throw new ConfigurationError(`clear: expected a Ledger, got ${show(ledger)}`);
    await this.#invoke("clear", (call) => this.store.clear(ledger, call));
  }

  /** Forgets every ledger's spends and holds. @throws {StoreError} if the store failed. */
  async clearAll(): Promise<void> {
    await this.#invoke("clearAll", (call) => this.store.clearAll(call));
  }

  /**
   * Calls `listener` with every decision this engine makes. Listener errors are counted in
   * {@link listenerErrors} and never reach the caller.
   * @returns a function that unsubscribes.
   * @example const stop = engine.onDecision((d) => metrics.count(d.status)); stop();
   */
  onDecision(listener: DecisionListener): () => void {
    if (typeof listener !== "function") {
      throw new ConfigurationError(`onDecision: expected a function, got ${show(listener)}`);
    }
    const entry: DecisionListener = (decision) => listener(decision);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Calls `listener` each time a check or a commit takes a limit's spend from below one of its alert
   * levels to at or above it (docs/semantics.md §14): once per crossing across every process
   * sharing the store, since the crossing is read from the store's own atomic answer. Holds count
   * in the spend before; a reservation crosses by what its commit records. Spend falling back
   * below a level (a rolling window moving on, a new calendar period) re-arms it.
   * Listener errors are counted in {@link listenerErrors} and never reach the caller.
   * @returns a function that unsubscribes.
   * @example const stop = engine.onThreshold((e) => notify(`${e.ledger} reached ${e.level * 100} %`));
   */
  onThreshold(listener: ThresholdListener): () => void {
    if (typeof listener !== "function") {
      throw new ConfigurationError(`onThreshold: expected a function, got ${show(listener)}`);
    }
    const entry: ThresholdListener = (event) => listener(event);
    this.#thresholdListeners.add(entry);
    return () => {
      this.#thresholdListeners.delete(entry);
    };
  }

  /**
   * Wraps a function (or, as a decorator, a method) so that each call is charged a fixed `cost`
   * first, and throws {@link BudgetExceededError} instead of running when blocked.
   * `ledger` and `cost` may be functions of the call's arguments.
   *
   * @example
   * const ask = engine.guard((user: string) => new Ledger("openai", "gpt-4o", `user:${user}`), budget, { cost: "0.03" })(
   *   async (user: string, prompt: string) => callModel(prompt),
   * );
   */
  guard<A extends unknown[] = never[]>(
    ledger: LedgerSelector<A>,
    budget: Budget | undefined,
    options: FixedGuardOptions<A>,
  ): Guard<A> {
    return makeFixedGuard((t, a, b) => this.#checkNow(t, a, b), ledger, budget, options, false);
  }

  /**
   * Like {@link guard}, but a blocked call resolves to a {@link Result} instead of throwing.
   * @example const r = await engine.guardResult(ledger, budget, { cost: 1 })(work)(); r.ok;
   */
  guardResult<A extends unknown[] = never[]>(
    ledger: LedgerSelector<A>,
    budget: Budget | undefined,
    options: FixedGuardOptions<A>,
  ): Guard<A, unknown, true> {
    return makeFixedGuard((t, a, b) => this.#checkNow(t, a, b), ledger, budget, options, true);
  }

  /**
   * Wraps a function so that each call reserves `estimate` first, then commits `actual(result)`.
   * If the function throws, the hold is released and its error rethrown. If `actual` throws or
   * returns something that is not an amount, the function has run: the estimate is committed and
   * {@link ActualCostError} thrown, carrying the function's result.
   *
   * @throws {BudgetExceededError} when blocked; {@link ActualCostError} as above.
   * @example
   * const ask = engine.guardBounded(ledger, budget, { estimate: "0.50", actual: (r: Reply) => r.cost })(callModel);
   */
  guardBounded<R = unknown, A extends unknown[] = never[]>(
    ledger: LedgerSelector<A>,
    budget: Budget | undefined,
    options: BoundedGuardOptions<A, R>,
  ): Guard<A, R> {
    return makeBoundedGuard(this, ledger, budget, options, false);
  }

  /**
   * Like {@link guardBounded}, but a blocked call resolves to a {@link Result} instead of throwing.
   * @example const r = await engine.guardBoundedResult(ledger, budget, { estimate: 1, actual: () => 0.5 })(work)();
   */
  guardBoundedResult<R = unknown, A extends unknown[] = never[]>(
    ledger: LedgerSelector<A>,
    budget: Budget | undefined,
    options: BoundedGuardOptions<A, R>,
  ): Guard<A, R, true> {
    return makeBoundedGuard(this, ledger, budget, options, true);
  }

  #plan(targets: Targets, fallback: Budget | undefined): Plan {
    if (fallback !== undefined && !(fallback instanceof Budget)) {
      throw new ConfigurationError(`Invalid budget ${show(fallback)}: expected a Budget or undefined`);
    }
    if (Ledger.isLedger(targets)) return this.#onePlan(targets, fallback);
    const list: readonly LedgerTarget[] = Array.isArray(targets) ? targets : [targets as LedgerTarget];
    if (list.length === 0) throw new ConfigurationError("Expected at least one ledger, got an empty list");
    const lines: { readonly ledger: Ledger; readonly key: string }[] = [];
    const budgets: Budget[] = [];
    for (const target of list) {
      const ledger = target instanceof Ledger ? target : target?.ledger;
      if (!(ledger instanceof Ledger)) {
        throw new ConfigurationError(`Invalid target ${show(target)}: expected a Ledger or { ledger, budget }`);
      }
      const own = target instanceof Ledger ? undefined : target.budget;
      if (own !== undefined && !(own instanceof Budget)) {
        throw new ConfigurationError(`Invalid budget for ${ledger}: expected a Budget, got ${show(own)}`);
      }
      const key = ledger.toString();
      const budget = own ?? fallback ?? this.#registered(key).budget;
      if (lines.some((line) => line.key === key)) {
        throw new ConfigurationError(`Ledger ${key} is listed twice in one charge; list each ledger once`);
      }
      lines.push({ ledger, key });
      budgets.push(budget);
    }
    return this.#planOf(lines, budgets);
  }

  /** The registration of the ledger keyed `key`. @throws {ConfigurationError} if there is none. */
  #registered(key: string): Registration {
    const registration = this.#budgets.get(key);
    if (registration === undefined) {
      throw new ConfigurationError(
        `No budget for ledger ${key}: pass one, or engine.register(ledger, budget) first; an unbudgeted ledger is never allowed to spend without limit`,
      );
    }
    return registration;
  }

  /**
   * The plan of one ledger: the most common call. The last one made is kept (with the registration
   * for a registered budget, else once per engine for a budget passed in) and serves again for the
   * same Ledger object and budget. Its calendar periods, if any, are not checked against the time
   * here: they span the periods before and after the one they were made in, the store picks the
   * one its clock is in, and when its clock has left them all, the store says so (PeriodRangeError)
   * and {@link #periodicAgain} renews the plan's lines. Checking here cost a clock read and a walk
   * of the limits on every call, a fifth of a calendar limit's cost.
   */
  #onePlan(ledger: Ledger, fallback: Budget | undefined): Plan {
    const key = ledger.toString();
    const slot: PlanSlot = fallback === undefined ? this.#registered(key) : this.#passedPlan;
    const budget = fallback ?? (slot as Registration).budget;
    const kept = slot.plan;
    if (kept !== null && kept.budgets[0] === budget && (kept.lines[0] as StoreLine).ledger === ledger) return kept;
    const plan = this.#planOf([{ ledger, key }], [budget]);
    slot.plan = plan;
    return plan;
  }

  /** The store's time as last seen: where calendar periods are computed. */
  #estimate(): number {
    return this.#clock?.() ?? Date.now() / 1000 + this.#skew;
  }

  /** Lines for `budgets`, calendar periods around `t` (default: the store's time as last seen). */
  #planOf(
    lines: readonly { readonly ledger: Ledger; readonly key: string }[],
    budgets: readonly Budget[],
    t?: number,
  ): Plan {
    let calendar = false;
    for (const budget of budgets) calendar ||= budget.calendar;
    const estimate = t ?? (calendar ? this.#estimate() : 0);
    const out: StoreLine[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const { ledger, key } = lines[i] as (typeof lines)[number];
      out[i] = { ledger, key, limits: (budgets[i] as Budget).storeLimits(estimate) };
    }
    return { lines: out, budgets, calendar };
  }

  /**
   * Runs a store call on the plan's lines; if the store's clock fell outside the calendar periods
   * sent, learns the store's time, renews the plan's lines with periods around it (for every later
   * call that the plan serves) and runs it once more. The periods are all that differ between the
   * two tries, so the answer is read against `plan` either way.
   */
  #periodic<T>(
    plan: Plan,
    operation: string,
    run: (lines: readonly StoreLine[], call: StoreCall) => Awaitable<T>,
  ): Awaitable<T> {
    let answer: Awaitable<T>;
    try {
      // #invoke's two steps, without the closure over plan.lines that calling it would make on
      // every decision (#periodicAgain, off the hot path, calls it).
      const call = this.#call();
      answer = this.#within(operation, call, run(plan.lines, call));
    } catch (error) {
      return this.#periodicAgain(plan, operation, run, error);
    }
    if (!isPromiseLike(answer)) return answer;
    return Promise.resolve(answer).then(undefined, (error: unknown) =>
      this.#periodicAgain(plan, operation, run, error),
    );
  }

  /** The second try of {@link #periodic}, with periods around the store's time, or `error` rethrown. */
  #periodicAgain<T>(
    plan: Plan,
    operation: string,
    run: (lines: readonly StoreLine[], call: StoreCall) => Awaitable<T>,
    error: unknown,
  ): Awaitable<T> {
    if (!plan.calendar || !PeriodRangeError.isInstance(error)) throw error;
    this.#skew = error.storeNow - Date.now() / 1000;
    plan.lines = this.#planOf(plan.lines, plan.budgets, error.storeNow).lines;
    return this.#invoke(operation, (call) => run(plan.lines, call));
  }

  /** The decision on a charge or a hold: made at once when the store answers synchronously. */
  #decide(
    plan: Plan,
    requested: Amount,
    operation: "charge" | "reserve",
    run: (lines: readonly StoreLine[], call: StoreCall) => Awaitable<StoreVerdict>,
  ): Awaitable<Decision> {
    let answer: Awaitable<StoreVerdict>;
    try {
      answer = this.#periodic(plan, operation, run);
    } catch (error) {
      return this.#storeFailed(plan, requested, error);
    }
    if (!isPromiseLike(answer)) return this.#decided(plan, requested, operation, answer);
    return Promise.resolve(answer).then(
      (verdict) => this.#decided(plan, requested, operation, verdict),
      (error: unknown) => this.#storeFailed(plan, requested, error),
    );
  }

  #decided(plan: Plan, requested: Amount, operation: "charge" | "reserve", verdict: StoreVerdict): Decision {
    const decision = verdictDecision(plan, requested, verdict);
    // A hold announces nothing: its commit does, by what it records.
    if (verdict.allowed && operation === "charge")
      this.#alert(plan, verdict.lines, 0n, requested.units, verdict.now, "check");
    this.#emit(decision);
    return decision;
  }

  /** The decision when the store failed, per each budget's `onStoreError`; `error` rethrown if it is no outage. */
  #storeFailed(plan: Plan, requested: Amount, error: unknown): Decision {
    // Only an outage is decided by onStoreError; a mistake must be seen, never allowed past.
    if (!(error instanceof StoreError)) throw error;
    const decision = combineDecisions(
      plan.lines.map((line, i) => storeErrorDecision(line.ledger, plan.budgets[i] as Budget, requested, error)),
    );
    this.#emit(decision);
    return decision;
  }

  /**
   * Tells threshold listeners of every alert level that `delta` took a limit's spend across, the
   * spend before being the state's less `settling` (the hold a commit replaces).
   */
  #alert(
    plan: Plan,
    states: readonly StoreLedgerState[],
    settling: bigint,
    delta: bigint,
    at: number,
    operation: ThresholdEvent["operation"],
  ): void {
    if (this.#thresholdListeners.size === 0 || delta <= 0n) return; // the size first: a bigint comparison costs more
    plan.budgets.forEach((budget, i) => {
      if (!budget.alerting) return;
      const state = states[i] as StoreLedgerState;
      const ledger = (plan.lines[i] as StoreLine).ledger;
      budget.limits.forEach((limit, j) => {
        const before = (state.committed[j] as bigint) + state.reserved - settling;
        const after = before + delta;
        limit.thresholds.forEach((threshold, k) => {
          if (before < threshold && threshold <= after) {
            const scale = limit.maxSpend.scale;
            const event: ThresholdEvent = {
              ledger,
              budget,
              limit,
              level: limit.alerts[k] as number,
              spent: Amount.fromUnits(after, scale),
              maxSpend: limit.maxSpend,
              at,
              operation,
            };
            this.#tell(this.#thresholdListeners, event);
          }
        });
      });
    });
  }

  /** A listing entry as a view, with the registered budget's limits where there is one. */
  #view(entry: StoreLedgerEntry): LedgerUsage {
    const windows = new Map<string, Amount>();
    for (const window of entry.windows) windows.set(window.id, Amount.fromUnits(window.committed));
    return usageOf(entry.ledger, this.#budgets.get(entry.ledger.toString())?.budget, entry.reserved, windows);
  }

  /** A fail-open reservation has no hold: like a fail-open check, its spend goes unrecorded. */
  #settleUnheld(reservation: Reservation, overEstimate: boolean): Settlement {
    if (this.#settledUnheld.has(reservation)) {
      throw new ReservationNotFoundError(reservation.id, "it was already committed or released");
    }
    this.#settledUnheld.add(reservation);
    return { reservation, recorded: Amount.ZERO, late: false, overEstimate };
  }

  /**
   * Calls the store. A synchronous answer is used as it is; a pending one races the timeout, and
   * on timeout the call's signal is aborted so that the store can cancel what it still can.
   */
  #invoke<T>(operation: string, run: (call: StoreCall) => Awaitable<T>): Awaitable<T> {
    const call = this.#call();
    return this.#within(operation, call, run(call));
  }

  /** What a store call is told: the engine's clock, if any, and the timeout. */
  #call(): Call {
    return new Call(this.#clock?.(), this.#timeoutMs);
  }

  /** The answer of the store to `call`: as it is when synchronous, else raced against the timeout. */
  #within<T>(operation: string, call: Call, answer: Awaitable<T>): Awaitable<T> {
    if (!isPromiseLike(answer)) return answer;
    call.start();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new StoreTimeoutError(operation, this.#timeoutMs);
        call.abort(error);
        reject(error);
      }, this.#timeoutMs);
      answer.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #emit(decision: Decision): void {
    this.#tell(this.#listeners, decision);
  }

  #tell<E>(listeners: ReadonlySet<(event: E) => unknown>, event: E): void {
    if (listeners.size === 0) return; // most engines have none: no iterator to make
    for (const listener of listeners) {
      try {
        const returned = listener(event);
        if (isPromiseLike(returned)) {
          returned.then(undefined, () => {
            this.#listenerErrors++;
          });
        }
      } catch {
        this.#listenerErrors++;
      }
    }
  }
}

class Call implements StoreCall {
  readonly now: number | undefined;
  readonly timeoutMs: number;
  #deadline: number | undefined;
  #controller: AbortController | undefined;

  constructor(now: number | undefined, timeoutMs: number) {
    this.now = now;
    this.timeoutMs = timeoutMs;
  }

  // Read off the wall clock on first use, or when the store's answer turns out to be pending (the
  // engine's timer starts then): a synchronous store never looks, and a clock read costs about
  // 60 ns here, a tenth of a whole decision.
  get deadline(): number {
    this.start();
    return this.#deadline as number;
  }

  /** Fixes the deadline, if the store has not read it yet, as the engine's timer starts. */
  start(): void {
    this.#deadline ??= Date.now() + this.timeoutMs;
  }

  // Made on first use: most calls never look at their signal.
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  // Made here if nobody has looked yet, so that a store reading the signal after the timeout
  // still finds it aborted.
  abort(reason: unknown): void {
    this.#controller ??= new AbortController();
    this.#controller.abort(reason);
  }
}

// A store whose answer contradicts itself is broken, not down: a StateError, so that no budget's
// FAIL_OPEN turns a store's bug into allowed spend.
function verdictDecision(plan: Plan, requested: Amount, verdict: StoreVerdict): Decision {
  const { lines, budgets } = plan;
  checkStates(lines, verdict.lines);
  const parts: Decision[] = new Array(lines.length);
  let allowed = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as StoreLine;
    const state = verdict.lines[i] as StoreLedgerState;
    const part = budgetDecision(line.ledger, budgets[i] as Budget, requested, state, verdict.allowed, verdict.now);
    allowed &&= part.allowed;
    parts[i] = part;
  }
  if (allowed !== verdict.allowed) {
    throw new StateError(`Store answered allowed=${verdict.allowed}, which its reported spend contradicts`);
  }
  return combineDecisions(parts);
}

/** A store's states must be one per line, each with one total per limit: else the store is broken. */
function checkStates(lines: readonly StoreLine[], states: readonly StoreLedgerState[]): void {
  if (states.length !== lines.length) {
    throw new StateError(`Store answered for ${states.length} ledgers, expected ${lines.length}`);
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as StoreLine;
    const committed = (states[i] as StoreLedgerState).committed.length;
    if (committed !== line.limits.length) {
      throw new StateError(`Store answered ${committed} limits of ${line.key}, expected ${line.limits.length}`);
    }
  }
}

/** A ledger's usage under `budget` from its holds and its totals by window id. */
function usageOf(
  ledger: Ledger,
  budget: Budget | undefined,
  reservedUnits: bigint,
  windows: ReadonlyMap<string, Amount>,
): LedgerUsage {
  const limits = (budget?.limits ?? []).map((limit): LimitUsage => {
    const committed = windows.get(limit.windowId)?.units ?? 0n;
    const spent = Amount.fromUnits(committed + reservedUnits, limit.maxSpend.scale);
    return { limit, spent, remaining: limit.maxSpend.minus(spent).clampToZero() };
  });
  return { ledger, budget, reserved: Amount.fromUnits(reservedUnits), limits, windows };
}

function leadOf(usage: LedgerUsage): number {
  return leadLimit(usage.budget as Budget, usage.limits);
}

function checkReservation(reservation: Reservation): void {
  if (!(reservation instanceof Reservation)) {
    throw new ConfigurationError(`Expected a Reservation from engine.reserve, got ${show(reservation)}`);
  }
}

function bounded(name: string, value: number, max: number, unit: string): number {
  if (typeof value !== "number" || !(value > 0 && value <= max)) {
    throw new ConfigurationError(
      `Invalid ${name} ${show(value)}: expected a number above 0 and at most ${max} ${unit}`,
    );
  }
  return value;
}
