/**
 * `budgetgate/openai`: spend limits for the OpenAI SDK (`chat.completions.create`,
 * `responses.create`, streamed or not). No runtime dependency on `openai`: it reads the usage
 * fields of the SDK's results and stream events by their wire names.
 *
 * @module budgetgate/openai
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

/** Chat Completions usage (`CompletionUsage`): prompt and completion totals include their details. */
export interface OpenAIChatUsage {
  /** Input tokens, cached ones included. */
  readonly prompt_tokens: number;
  /** Output tokens, reasoning included. */
  readonly completion_tokens: number;
  /** Details of the input tokens. */
  readonly prompt_tokens_details?:
    | {
        /** Input tokens read from the cache, included in the input total. */
        readonly cached_tokens?: number | undefined;
      }
    | null
    | undefined;
  /** Details of the output tokens. */
  readonly completion_tokens_details?:
    | {
        /** Reasoning tokens, included in the output total. */
        readonly reasoning_tokens?: number | undefined;
      }
    | null
    | undefined;
}

/** Responses API usage (`ResponseUsage`): input and output totals include their details. */
export interface OpenAIResponsesUsage {
  /** Input tokens, cached ones included. */
  readonly input_tokens: number;
  /** Output tokens, reasoning included. */
  readonly output_tokens: number;
  /** Details of the input tokens. */
  readonly input_tokens_details?:
    | {
        /** Input tokens read from the cache, included in the input total. */
        readonly cached_tokens?: number | undefined;
      }
    | null
    | undefined;
  /** Details of the output tokens. */
  readonly output_tokens_details?:
    | {
        /** Reasoning tokens, included in the output total. */
        readonly reasoning_tokens?: number | undefined;
      }
    | null
    | undefined;
}

/**
 * Converts an OpenAI usage report — Chat Completions (`prompt_tokens`, `completion_tokens`,
 * `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`) or Responses
 * (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`,
 * `output_tokens_details.reasoning_tokens`) — into a {@link TokenUsage}. OpenAI's totals already
 * include cached and reasoning tokens, as TokenUsage's do. Undefined when `usage` is neither.
 *
 * Audio tokens are counted in the totals at the text price; price audio with `cost` if you use it.
 *
 * @example
 * openaiUsage({ prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1000 } });
 * // { inputTokens: 1200, outputTokens: 300, cachedInputTokens: 1000, reasoningTokens: undefined }
 */
export function openaiUsage(usage: OpenAIChatUsage | OpenAIResponsesUsage | null | undefined): TokenUsage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  if ("prompt_tokens" in usage) {
    if (!isCount(usage.prompt_tokens) || !isCount(usage.completion_tokens)) return undefined;
    return {
      inputTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
      cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? undefined,
      reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? undefined,
    };
  }
  if (!isCount(usage.input_tokens) || !isCount(usage.output_tokens)) return undefined;
  return {
    inputTokens: usage.input_tokens,
    outputTokens: usage.output_tokens,
    cachedInputTokens: usage.input_tokens_details?.cached_tokens ?? undefined,
    reasoningTokens: usage.output_tokens_details?.reasoning_tokens ?? undefined,
  };
}

/** Responses stream events that end a response and carry its final usage. */
const FINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

/**
 * Spend limits for OpenAI SDK requests. Configure once; then each call reserves the estimate on
 * its targets before `request` runs, and commits the cost of the usage OpenAI reports.
 *
 * - Blocked: `request` never runs; the call throws {@link budgetgate!BudgetExceededError}.
 * - The request fails (an API error): the hold is released. Aborted (`options.signal`) or timed
 *   out: the estimate is committed, since OpenAI may have billed it.
 * - Streams (`stream: true`) come back as a {@link MeteredStream}: the usage chunk (Chat
 *   Completions; send `stream_options: { include_usage: true }`, or every stream is charged the
 *   estimate) or the `response.completed` event (Responses) commits its cost; a stream that ends
 *   without one — you break early, it errors, the signal or the stream's `controller` aborts —
 *   commits the estimate, before the SDK stream is closed.
 *
 * @throws {ConfigurationError} for missing or malformed options.
 * @example
 * const budgeted = openaiBudget({ engine, estimate: "0.02", prices: { input: "0.15", output: "0.60" } });
 * const completion = await budgeted(userLedger, () =>
 *   client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }),
 * );
 * const stream = await budgeted(userLedger, () =>
 *   client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true, stream_options: { include_usage: true } }),
 * );
 * for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? "");
 */
export function openaiBudget(options: SdkBudgetOptions): BudgetedCall {
  return makeBudgetedCall("openaiBudget", options, {
    result(value) {
      const raw = (value as { usage?: unknown } | null)?.usage;
      return { usage: openaiUsage(raw as OpenAIChatUsage | undefined), raw };
    },
    stream() {
      return (item) => {
        const event = item as { type?: unknown; usage?: unknown; response?: { usage?: unknown } } | null;
        if (typeof event?.type === "string") {
          if (!FINAL_EVENTS.has(event.type)) return null;
          const raw = event.response?.usage;
          return { usage: openaiUsage(raw as OpenAIResponsesUsage | undefined), raw };
        }
        // A Chat Completions chunk: only the last one, with stream_options.include_usage, has usage.
        if (typeof event?.usage !== "object" || event.usage === null) return null;
        return { usage: openaiUsage(event.usage as OpenAIChatUsage), raw: event.usage };
      };
    },
  });
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}
