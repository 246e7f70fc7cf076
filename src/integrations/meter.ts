import {
  type AmountInput,
  type Budget,
  BudgetExceededError,
  ConfigurationError,
  type Engine,
  type Reservation,
  type Settlement,
  type Targets,
} from "budgetgate";
import { type TokenPrices, type TokenUsage, tokenCost } from "./pricing.js";

/** A value, or a function of the call that gives it. */
export type PerCall<T, C> = T | ((call: C) => T);

/** How a metered call prices its usage: from per-million-token `prices`, or your own `cost` function. */
export interface PricingOptions<C> {
  /** Prices per 1M tokens, fixed or chosen per call (e.g. by model id). Give this or `cost`. */
  readonly prices?: PerCall<TokenPrices, C> | undefined;
  /**
   * Your own pricing of the reported usage. Give this or `prices`. `raw` is the provider's own
   * usage report, for what tokens do not cover (audio tokens, server-side tool fees).
   */
  readonly cost?: ((usage: TokenUsage, call: C, raw: unknown) => AmountInput) | undefined;
}

/**
 * How a budgeted call was settled.
 * - `"usage"`: the provider reported usage; its cost was committed.
 * - `"estimate"`: it did not (a stream stopped early, a call was aborted): the estimate was committed,
 *   since money may already have been spent.
 * - `"released"`: the call failed before the provider accepted it; the hold was dropped.
 */
export type SettleOutcome = "usage" | "estimate" | "released";

/** What `onSettle` is told once a call is settled. */
export interface SettleEvent<C> {
  /** The call that was settled. */
  readonly call: C;
  /** How it was settled: by its usage, at its estimate, or released. */
  readonly outcome: SettleOutcome;
  /** The usage priced, when the provider reported it. */
  readonly usage: TokenUsage | undefined;
  /** What the engine recorded. */
  readonly settlement: Settlement;
}

/** @internal Everything a meter needs to settle one call. */
export interface MeterConfig<C> extends PricingOptions<C> {
  readonly engine: Engine;
  readonly onSettle?: ((event: SettleEvent<C>) => unknown) | undefined;
}

/** @internal Checks pricing options once, where the user wrote them. */
export function checkPricing<C>(options: PricingOptions<C>, where: string): void {
  const hasPrices = options.prices !== undefined;
  const hasCost = options.cost !== undefined;
  if (hasPrices === hasCost) {
    throw new ConfigurationError(
      `${where}: pass exactly one of prices (per 1M tokens) or cost (usage => amount), got ${hasPrices ? "both" : "neither"}`,
    );
  }
  if (hasCost && typeof options.cost !== "function") {
    throw new ConfigurationError(`${where}: cost must be a function (usage, call) => amount`);
  }
}

/** @internal Resolves a per-call option. */
export function perCall<T, C>(value: PerCall<T, C>, call: C): T {
  return typeof value === "function" ? (value as (call: C) => T)(call) : value;
}

/**
 * @internal One call's hold, settled exactly once: the first of `usage`, `estimate` and `release`
 * decides, and later ones return the same settlement. Streams can end in several ways at once (an
 * abort, then a cancel, then an error); only the first counts.
 */
export class Meter<C> {
  readonly #config: MeterConfig<C>;
  readonly #call: C;
  readonly #reservation: Reservation;
  #settled: Promise<Settlement> | undefined;
  #resolve!: (settlement: Promise<Settlement>) => void;
  /** Settles when the call is settled, however that happens. */
  readonly finished: Promise<Settlement>;

  private constructor(config: MeterConfig<C>, call: C, reservation: Reservation) {
    this.#config = config;
    this.#call = call;
    this.#reservation = reservation;
    this.finished = new Promise<Settlement>((resolve) => {
      this.#resolve = resolve;
    });
    // Nobody may be waiting for it; its failure reaches the caller by the call's own path.
    this.finished.catch(() => undefined);
  }

  /**
   * Reserves `estimate` on `targets`. A blocked reservation throws, whatever the budget's mode:
   * there is no way to hand a blocked decision back in place of a model's answer.
   * @throws {BudgetExceededError} when blocked.
   */
  static async open<C>(
    config: MeterConfig<C>,
    call: C,
    targets: Targets,
    estimate: AmountInput,
    budget: Budget | undefined,
  ): Promise<Meter<C>> {
    const { reservation, decision } = await config.engine.reserve(targets, estimate, budget);
    if (reservation === null) throw new BudgetExceededError(decision);
    return new Meter(config, call, reservation);
  }

  /** True once a settlement has started. */
  get settled(): boolean {
    return this.#settled !== undefined;
  }

  /**
   * Commits the cost of `usage`, or the estimate when there is none. If pricing throws, the
   * estimate is committed and the pricing error rethrown.
   */
  usage(usage: TokenUsage | undefined, raw?: unknown): Promise<Settlement> {
    return this.#once(async () => {
      if (usage === undefined) return this.#commit("estimate", this.#reservation.estimate, undefined);
      let cost: AmountInput;
      try {
        cost = this.#price(usage, raw);
      } catch (error) {
        await this.#commit("estimate", this.#reservation.estimate, usage).catch(() => undefined);
        throw error;
      }
      return this.#commit("usage", cost, usage);
    });
  }

  /** Commits the estimate: the call may have cost money, and what it cost is unknown. */
  estimate(): Promise<Settlement> {
    return this.usage(undefined);
  }

  /** Drops the hold: the call cost nothing. */
  release(): Promise<Settlement> {
    return this.#once(async () => {
      const settlement = await this.#config.engine.release(this.#reservation);
      this.#tell("released", undefined, settlement);
      return settlement;
    });
  }

  #once(run: () => Promise<Settlement>): Promise<Settlement> {
    if (this.#settled === undefined) {
      this.#settled = run();
      this.#resolve(this.#settled);
    }
    return this.#settled;
  }

  #price(usage: TokenUsage, raw: unknown): AmountInput {
    const { cost, prices } = this.#config;
    if (cost !== undefined) return cost(usage, this.#call, raw);
    return tokenCost(usage, perCall(prices as PerCall<TokenPrices, C>, this.#call));
  }

  async #commit(outcome: SettleOutcome, cost: AmountInput, usage: TokenUsage | undefined): Promise<Settlement> {
    const settlement = await this.#config.engine.commit(this.#reservation, cost);
    this.#tell(outcome, usage, settlement);
    return settlement;
  }

  #tell(outcome: SettleOutcome, usage: TokenUsage | undefined, settlement: Settlement): void {
    const listener = this.#config.onSettle;
    if (listener === undefined) return;
    try {
      const returned = listener({ call: this.#call, outcome, usage, settlement });
      if (typeof (returned as PromiseLike<unknown> | undefined)?.then === "function") {
        (returned as PromiseLike<unknown>).then(undefined, () => undefined);
      }
    } catch {
      // A listener's failure never changes what was recorded, nor the caller's outcome.
    }
  }
}
