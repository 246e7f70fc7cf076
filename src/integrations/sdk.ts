import { type AmountInput, type Budget, ConfigurationError, Engine, type Settlement, type Targets } from "budgetgate";
import { checkPricing, Meter, type MeterConfig, type PricingOptions, type SettleEvent } from "./meter.js";
import type { TokenUsage } from "./pricing.js";
import { meterAsyncIterable, type UsageProbe } from "./stream.js";

/** One budgeted SDK request, as `prices`, `cost` and `onSettle` see it. */
export interface SdkCall {
  /** The ledger(s) charged. */
  readonly targets: Targets;
  /** The estimate reserved. */
  readonly estimate: AmountInput;
}

/** Options shared by `openaiBudget` and `anthropicBudget`. */
export interface SdkBudgetOptions extends PricingOptions<SdkCall> {
  /** The engine that decides and records. */
  readonly engine: Engine;
  /** Upper bound of one request's cost, reserved before it is sent. Each call may override it. */
  readonly estimate: AmountInput;
  /** The budget of targets that carry none and have none registered. */
  readonly budget?: Budget | undefined;
  /** Told of each settlement (for logs and metrics); its errors are ignored. */
  readonly onSettle?: ((event: SettleEvent<SdkCall>) => unknown) | undefined;
}

/** Per-call overrides, the third argument of a budgeted call. */
export interface SdkCallOptions extends PricingOptions<SdkCall> {
  /** This call's estimate, in place of the wrapper's. */
  readonly estimate?: AmountInput | undefined;
  /** The budget of targets that carry none, for this call. */
  readonly budget?: Budget | undefined;
  /**
   * The abort signal you also give the SDK request. When it fires, a stream commits at once (usage
   * if the provider reported it, else the estimate), and a request that then fails commits the
   * estimate instead of releasing: the provider may have billed it.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A stream of SDK events that records the request's cost as it ends. Iterate it once, to the end
 * or until you `break`; breaking closes the SDK stream (which aborts the HTTP request) and commits.
 */
export class MeteredStream<T> implements AsyncIterable<T> {
  readonly #items: AsyncGenerator<T, void, undefined>;
  /**
   * The SDK stream's abort controller, when it has one: `abort()` stops the request and, read or
   * not, commits the estimate unless the usage was already reported.
   */
  readonly controller: AbortController | undefined;
  /** Settles once the cost is recorded: the reported usage's, or the estimate. */
  readonly settlement: Promise<Settlement>;

  /** @internal Made by the budgeted call. */
  constructor(
    items: AsyncGenerator<T, void, undefined>,
    controller: AbortController | undefined,
    settlement: Promise<Settlement>,
  ) {
    this.#items = items;
    this.controller = controller;
    this.settlement = settlement;
  }

  /** Iterates the SDK's events; iterate once. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.#items;
  }
}

/** What a budgeted call resolves to: the SDK's result, or its stream metered. */
export type Budgeted<R> = R extends AsyncIterable<infer T> ? MeteredStream<T> : R;

/**
 * A configured budgeted call: `(targets, request, options?)`. `request` sends the SDK request and
 * returns its promise (a result, or a stream when `stream: true`).
 */
export type BudgetedCall = <R>(
  targets: Targets,
  request: () => PromiseLike<R>,
  options?: SdkCallOptions,
) => Promise<Budgeted<R>>;

/** @internal How one SDK reports usage: on a whole result, and along a stream. */
export interface UsageReader {
  /** The usage of a non-streamed result; undefined if it has none. */
  result(value: unknown): { readonly usage: TokenUsage | undefined; readonly raw: unknown };
  /** A fresh probe for one stream (it may keep state across events). */
  stream(): UsageProbe<unknown>;
}

/** @internal Builds `openaiBudget` / `anthropicBudget`. */
export function makeBudgetedCall(name: string, options: SdkBudgetOptions, reader: UsageReader): BudgetedCall {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(
      `${name}: expected options { engine, estimate, prices | cost }, got ${String(options)}`,
    );
  }
  if (!(options.engine instanceof Engine)) {
    throw new ConfigurationError(`${name}: options.engine must be a budgetgate Engine`);
  }
  if (options.estimate === undefined || options.estimate === null) {
    throw new ConfigurationError(`${name}: options.estimate is required`);
  }
  checkPricing(options, name);

  return async <R>(targets: Targets, request: () => PromiseLike<R>, call: SdkCallOptions = {}) => {
    if (typeof request !== "function") {
      throw new ConfigurationError(`${name}: expected a function that sends the request, got ${String(request)}`);
    }
    const overridesPricing = call.prices !== undefined || call.cost !== undefined;
    if (overridesPricing) checkPricing(call, name);
    const config: MeterConfig<SdkCall> = {
      engine: options.engine,
      prices: overridesPricing ? call.prices : options.prices,
      cost: overridesPricing ? call.cost : options.cost,
      onSettle: options.onSettle,
    };
    const estimate = call.estimate ?? options.estimate;
    const signal = call.signal;
    signal?.throwIfAborted();
    const meter = await Meter.open(config, { targets, estimate }, targets, estimate, call.budget ?? options.budget);

    let value: R;
    try {
      value = await request();
    } catch (error) {
      const settle = signal?.aborted || isTimeout(error) ? meter.estimate() : meter.release();
      // The caller needs the request's own error; a failed settlement only leaves a hold until its TTL.
      await settle.catch(() => undefined);
      throw error;
    }
    if (isAsyncIterable(value)) {
      const found = (value as { controller?: unknown }).controller;
      const controller = found instanceof AbortController ? found : undefined;
      // Aborting the SDK stream's own controller ends the call as the signal does, read or not.
      const items = meterAsyncIterable(value, meter, [signal, controller?.signal], reader.stream());
      return new MeteredStream(items, controller, meter.finished) as Budgeted<R>;
    }
    const { usage, raw } = reader.result(value);
    await meter.usage(usage, raw);
    return value as Budgeted<R>;
  };
}

/** A timed-out request may have been processed and billed; the SDKs retry it, too. */
function isTimeout(error: unknown): boolean {
  const name = (error as { constructor?: { name?: unknown }; name?: unknown } | null)?.constructor?.name;
  return name === "APIConnectionTimeoutError" || (error as { name?: unknown } | null)?.name === "TimeoutError";
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}
