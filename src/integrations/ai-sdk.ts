/**
 * `budgetgate/ai-sdk`: spend limits for the Vercel AI SDK, as a language-model middleware.
 * It has no runtime dependency on `ai`: the types below are the parts of the AI SDK's middleware
 * specification (v2, AI SDK 5; v3, AI SDK 6; v4, AI SDK 7) that it reads, which the three agree
 * on, so one middleware fits all of them.
 *
 * @module budgetgate/ai-sdk
 */
import { type AmountInput, type Budget, ConfigurationError, Engine, type Targets } from "budgetgate";
import { aiSdkUsage, type UsageConvention } from "./ai-sdk-usage.js";
import { checkPricing, Meter, type PerCall, type PricingOptions, perCall, type SettleEvent } from "./meter.js";
import { meterReadableStream } from "./stream.js";

export { aiSdkUsage, type UsageConvention, type UsageSource, v2Convention } from "./ai-sdk-usage.js";
export type { PerCall, PricingOptions, SettleEvent, SettleOutcome } from "./meter.js";
export { type TokenPrices, type TokenUsage, tokenCost } from "./pricing.js";

/**
 * The parts of a model call's options (`LanguageModelV2CallOptions`, `V3CallOptions`,
 * `V4CallOptions`) the middleware reads.
 */
export interface ModelCallOptions {
  /** The prompt, as the provider receives it. */
  readonly prompt: readonly unknown[];
  /** The output-token cap, if the call set one: a base for an estimate. */
  readonly maxOutputTokens?: number | undefined;
  /** Per-call options by provider. Pass your own under a key of yours, e.g. `{ budgetgate: { userId } }`. */
  readonly providerOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;
  /** Extra HTTP headers of the call, e.g. one naming the user. */
  readonly headers?: Readonly<Record<string, string | undefined>> | undefined;
  /** The call's abort signal; an abort settles the hold at once. */
  readonly abortSignal?: AbortSignal | undefined;
}

/** The parts of a language model the middleware reads. */
export interface ModelInfo {
  /** Provider id, such as `"openai.chat"`. */
  readonly provider: string;
  /** Model id, such as `"gpt-4o-mini"`. */
  readonly modelId: string;
}

/** One call to the model, as the `ledger`, `estimate`, `prices` and `cost` functions see it. */
export interface ModelCall {
  /** `"generate"` for `doGenerate`, `"stream"` for `doStream`. */
  readonly type: "generate" | "stream";
  /** The call's options. */
  readonly params: ModelCallOptions;
  /** The model called. */
  readonly model: ModelInfo;
}

/** Options of {@link budgetMiddleware}. */
export interface BudgetMiddlewareOptions extends PricingOptions<ModelCall> {
  /** The engine that decides and records. */
  readonly engine: Engine;
  /**
   * The ledger(s) each call is charged to: fixed, or a function of the call (its provider options,
   * headers or model, or a closure over your request's user). Several targets are charged together,
   * all or none.
   */
  readonly ledger: PerCall<Targets | PromiseLike<Targets>, ModelCall>;
  /** The budget of targets that carry none and have none registered. */
  readonly budget?: Budget | undefined;
  /**
   * An upper bound of one call's cost, reserved before the request leaves: fixed, or a function of
   * the call (e.g. from `params.maxOutputTokens`). A call that ends without usage is charged this.
   */
  readonly estimate: PerCall<AmountInput | PromiseLike<AmountInput>, ModelCall>;
  /** AI SDK 5 only: how the provider counts cached and reasoning tokens, when the default guess is wrong. */
  readonly v2Convention?: UsageConvention | undefined;
  /** Told of each settlement (for logs and metrics); its errors are ignored. */
  readonly onSettle?: ((event: SettleEvent<ModelCall>) => unknown) | undefined;
}

/** What `doGenerate` answers, as far as the middleware reads it. */
export interface GenerateResultLike {
  /** The token usage the provider reported (v2 or v3 shape). */
  readonly usage?: unknown;
  /** Provider metadata; AI SDK 5 Anthropic reports cache writes here. */
  readonly providerMetadata?: unknown;
}

/** What `doStream` answers, as far as the middleware reads it. */
export interface StreamResultLike {
  /** The stream of parts; its `finish` part carries the usage. */
  readonly stream: ReadableStream<unknown>;
}

/**
 * A language-model middleware for `wrapLanguageModel` of AI SDK 5, 6 and 7: a
 * `LanguageModelV2Middleware`, a `LanguageModelV3Middleware`, and AI SDK 7's `LanguageModelMiddleware`
 * (a `LanguageModelV4Middleware` whose version tag may be any, so that v3 middleware keeps working).
 * One object cannot carry both tags, and AI SDK 6 requires `"v3"`: the tag stays `"v3"`, which
 * AI SDK 5 and 7 do not read.
 */
export interface BudgetMiddleware {
  /** The middleware specification it declares (AI SDK 6 reads this). */
  readonly specificationVersion: "v3";
  /** The middleware version AI SDK 5 reads. */
  readonly middlewareVersion: "v2";
  /** Reserves the estimate, runs `doGenerate`, and commits the usage's cost (or releases on error). */
  wrapGenerate<R extends GenerateResultLike>(options: {
    doGenerate: () => PromiseLike<R>;
    params: ModelCallOptions;
    model: ModelInfo;
  }): Promise<R>;
  /** Reserves the estimate, runs `doStream`, and commits at the `finish` part (or settles on cancel, abort or error). */
  wrapStream<R extends StreamResultLike>(options: {
    doStream: () => PromiseLike<R>;
    params: ModelCallOptions;
    model: ModelInfo;
  }): Promise<R>;
}

/**
 * Spend limits for AI SDK calls. For each `generate` or `stream` call of the wrapped model it
 * resolves the ledger(s), reserves the estimate before the request leaves, and commits the cost of
 * the usage the provider reports when the call finishes.
 *
 * - A blocked call never reaches the provider: it throws {@link budgetgate!BudgetExceededError}.
 * - A call that fails (the provider answers with an error) releases its hold; one that fails after
 *   its abort signal fired commits the estimate, since the provider may have billed it.
 * - A stream that ends early — the consumer cancels, the abort signal fires, the stream errors —
 *   commits the usage the provider reported if it did, and otherwise the full estimate. A cancel
 *   is passed on to the provider's stream only once the call is settled, so a provider cancel
 *   that never finishes cannot leave it unrecorded.
 *
 * @throws {ConfigurationError} for missing or malformed options.
 * @example
 * import { wrapLanguageModel, generateText } from "ai";
 * const model = wrapLanguageModel({
 *   model: openai("gpt-4o-mini"),
 *   middleware: budgetMiddleware({
 *     engine,
 *     ledger: ({ params }) => new Ledger("openai", "gpt-4o-mini", `user:${params.providerOptions?.budgetgate?.userId}`),
 *     budget: new Budget({ maxSpend: "1.00", window: 86_400 }),
 *     estimate: "0.01",
 *     prices: { input: "0.15", output: "0.60", cachedInput: "0.075" },
 *   }),
 * });
 * await generateText({ model, prompt: "Hi", providerOptions: { budgetgate: { userId: "alice" } } });
 */
export function budgetMiddleware(options: BudgetMiddlewareOptions): BudgetMiddleware {
  checkOptions(options);
  const { engine, ledger, budget, estimate, v2Convention, onSettle } = options;
  const config = { engine, prices: options.prices, cost: options.cost, onSettle };

  const open = async (call: ModelCall): Promise<Meter<ModelCall>> => {
    call.params.abortSignal?.throwIfAborted();
    const targets = await perCall(ledger, call);
    const amount = await perCall(estimate, call);
    return Meter.open(config, call, targets, amount, budget);
  };
  const usageOf = (usage: unknown, providerMetadata: unknown, model: ModelInfo) =>
    aiSdkUsage(usage, { provider: model.provider, providerMetadata, convention: v2Convention });

  return {
    specificationVersion: "v3",
    middlewareVersion: "v2",

    async wrapGenerate<R extends GenerateResultLike>({
      doGenerate,
      params,
      model,
    }: {
      doGenerate: () => PromiseLike<R>;
      params: ModelCallOptions;
      model: ModelInfo;
    }): Promise<R> {
      const meter = await open({ type: "generate", params, model });
      let result: R;
      try {
        result = await doGenerate();
      } catch (error) {
        await settleFailure(meter, params);
        throw error;
      }
      await meter.usage(usageOf(result.usage, result.providerMetadata, model), result.usage);
      return result;
    },

    async wrapStream<R extends StreamResultLike>({
      doStream,
      params,
      model,
    }: {
      doStream: () => PromiseLike<R>;
      params: ModelCallOptions;
      model: ModelInfo;
    }): Promise<R> {
      const meter = await open({ type: "stream", params, model });
      let result: R;
      try {
        result = await doStream();
      } catch (error) {
        await settleFailure(meter, params);
        throw error;
      }
      const stream = meterReadableStream(result.stream, meter, params.abortSignal, (part) => {
        const finish = part as { type?: unknown; usage?: unknown; providerMetadata?: unknown } | null;
        if (finish?.type !== "finish") return null;
        return { usage: usageOf(finish.usage, finish.providerMetadata, model), raw: finish.usage };
      });
      return { ...result, stream };
    },
  };
}

/**
 * The request did not complete. Aborted by the caller, it may still have been billed (a provider
 * keeps generating for a dropped connection): charge the estimate. Otherwise the provider refused
 * it: release.
 */
async function settleFailure(meter: Meter<ModelCall>, params: ModelCallOptions): Promise<void> {
  const settle = params.abortSignal?.aborted ? meter.estimate() : meter.release();
  // The caller needs the call's own error; a failed settlement only leaves a hold until its TTL.
  await settle.catch(() => undefined);
}

function checkOptions(options: BudgetMiddlewareOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(
      `budgetMiddleware: expected options { engine, ledger, estimate, prices | cost }, got ${String(options)}`,
    );
  }
  if (!(options.engine instanceof Engine)) {
    throw new ConfigurationError("budgetMiddleware: options.engine must be a budgetgate Engine");
  }
  if (options.ledger === undefined || options.ledger === null) {
    throw new ConfigurationError("budgetMiddleware: options.ledger is required (targets, or a function of the call)");
  }
  if (options.estimate === undefined || options.estimate === null) {
    throw new ConfigurationError(
      "budgetMiddleware: options.estimate is required (an amount, or a function of the call)",
    );
  }
  checkPricing(options, "budgetMiddleware");
}
