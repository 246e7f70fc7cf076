/**
 * `budgetgate/anthropic`: spend limits for the Anthropic SDK (`messages.create`, streamed or not).
 * No runtime dependency on `@anthropic-ai/sdk`: it reads the usage fields of the SDK's results and
 * stream events by their wire names.
 *
 * @module budgetgate/anthropic
 */
import type { TokenUsage } from "./pricing.js";
import { type BudgetedCall, makeBudgetedCall, type SdkBudgetOptions } from "./sdk.js";

export type { PerCall, PricingOptions, SettleEvent, SettleOutcome } from "./meter.js";
export { type TokenPrices, type TokenUsage, tokenCost } from "./pricing.js";
export {
  type Budgeted,
  type BudgetedCall,
  MeteredStream,
  type SdkBudgetOptions,
  type SdkCall,
  type SdkCallOptions,
} from "./sdk.js";

/**
 * Anthropic usage (`Usage`, or the cumulative `MessageDeltaUsage` of a stream). Unlike OpenAI's,
 * `input_tokens` leaves out the cache: cache reads and writes are counted only in their own fields.
 */
export interface AnthropicUsage {
  /** Input tokens outside the cache (Anthropic does not include cache reads or writes here). */
  readonly input_tokens?: number | null | undefined;
  /** Output tokens, thinking included. */
  readonly output_tokens?: number | null | undefined;
  /** Input tokens read from the cache. */
  readonly cache_read_input_tokens?: number | null | undefined;
  /** Input tokens written to the cache. */
  readonly cache_creation_input_tokens?: number | null | undefined;
  /** Details of the output tokens. */
  readonly output_tokens_details?:
    | {
        /** Thinking tokens, included in `output_tokens`. */
        readonly thinking_tokens?: number | null | undefined;
      }
    | null
    | undefined;
}

/**
 * Converts an Anthropic usage report into a {@link TokenUsage}: `inputTokens` is
 * `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` (Anthropic counts them
 * apart), `outputTokens` is `output_tokens` (thinking included). Undefined without input and
 * output counts.
 *
 * Cache writes of every TTL are one count here; if you write 1-hour cache entries (priced above
 * 5-minute ones), pass the 1-hour rate as `cacheWrite`, or price `raw.cache_creation` with `cost`.
 *
 * @example
 * anthropicUsage({ input_tokens: 50, cache_read_input_tokens: 10_000, output_tokens: 200 });
 * // { inputTokens: 10050, outputTokens: 200, cachedInputTokens: 10000, cacheWriteTokens: 0, reasoningTokens: undefined }
 */
export function anthropicUsage(usage: AnthropicUsage | null | undefined): TokenUsage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const input = usage.input_tokens;
  const output = usage.output_tokens;
  if (!isCount(input) || !isCount(output)) return undefined;
  const cached = count(usage.cache_read_input_tokens);
  const written = count(usage.cache_creation_input_tokens);
  return {
    inputTokens: input + cached + written,
    outputTokens: output,
    cachedInputTokens: cached,
    cacheWriteTokens: written,
    reasoningTokens: usage.output_tokens_details?.thinking_tokens ?? undefined,
  };
}

/**
 * Spend limits for Anthropic SDK requests. Configure once; then each call reserves the estimate on
 * its targets before `request` runs, and commits the cost of the usage Anthropic reports.
 *
 * - Blocked: `request` never runs; the call throws {@link budgetgate!BudgetExceededError}.
 * - The request fails (an API error): the hold is released. Aborted (`options.signal`) or timed
 *   out: the estimate is committed, since Anthropic may have billed it.
 * - Streams (`stream: true`) come back as a {@link MeteredStream}: the `message_delta` event, which
 *   carries the final cumulative usage, commits its cost (merged with `message_start`'s input
 *   counts); a stream that ends without one — you break early, it errors, the signal or the
 *   stream's `controller` aborts — commits the estimate, before the SDK stream is closed.
 *
 * `messages.stream()` (the MessageStream helper) is not metered by iteration alone; use
 * `messages.create({ stream: true })`, or see the recipe in docs/integrations.md.
 *
 * @throws {ConfigurationError} for missing or malformed options.
 * @example
 * const budgeted = anthropicBudget({
 *   engine, estimate: "0.05",
 *   prices: { input: "3", output: "15", cachedInput: "0.30", cacheWrite: "3.75" },
 * });
 * const message = await budgeted(userLedger, () =>
 *   client.messages.create({ model: "claude-sonnet-4-5", max_tokens: 1024, messages: [{ role: "user", content: "Hi" }] }),
 * );
 */
export function anthropicBudget(options: SdkBudgetOptions): BudgetedCall {
  return makeBudgetedCall("anthropicBudget", options, {
    result(value) {
      const raw = (value as { usage?: unknown } | null)?.usage;
      return { usage: anthropicUsage(raw as AnthropicUsage | undefined), raw };
    },
    stream() {
      let started: AnthropicUsage | undefined;
      return (item) => {
        const event = item as { type?: unknown; message?: { usage?: AnthropicUsage }; usage?: AnthropicUsage } | null;
        if (event?.type === "message_start") {
          started = event.message?.usage;
          return null;
        }
        if (event?.type !== "message_delta") return null;
        const raw = merge(started, event.usage);
        return { usage: anthropicUsage(raw), raw };
      };
    },
  });
}

/** The delta's counts are cumulative; a null one means "unchanged since message_start". */
function merge(start: AnthropicUsage | undefined, delta: AnthropicUsage | undefined): AnthropicUsage {
  const pick = <K extends keyof AnthropicUsage>(key: K): AnthropicUsage[K] => delta?.[key] ?? start?.[key];
  return {
    input_tokens: pick("input_tokens"),
    output_tokens: pick("output_tokens"),
    cache_read_input_tokens: pick("cache_read_input_tokens"),
    cache_creation_input_tokens: pick("cache_creation_input_tokens"),
    output_tokens_details: pick("output_tokens_details"),
  };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function count(value: unknown): number {
  return isCount(value) ? value : 0;
}
