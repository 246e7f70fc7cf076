import type { TokenUsage } from "./pricing.js";

/**
 * How an AI SDK 5 (`LanguageModelV2`) provider counts: whether its `inputTokens` already include
 * `cachedInputTokens`, and its `outputTokens` already include `reasoningTokens`. Version 2 of the
 * spec leaves this to each provider, and they differ (OpenAI includes both; Anthropic's
 * `inputTokens` leave cache reads out; Google's `outputTokens` leave reasoning out).
 */
export interface UsageConvention {
  /** Whether the provider's input total already includes its cached input tokens. */
  readonly cachedInputIncluded: boolean;
  /** Whether the provider's output total already includes its reasoning tokens. */
  readonly reasoningIncluded: boolean;
}

/** Where a usage report came from, for the AI SDK 5 conventions. */
export interface UsageSource {
  /** The model's `provider` id, such as `"openai.chat"` or `"anthropic.messages"`. */
  readonly provider?: string | undefined;
  /** The call's `providerMetadata` (AI SDK 5's Anthropic provider reports cache writes only there). */
  readonly providerMetadata?: unknown;
  /** Overrides the convention chosen from `provider`. */
  readonly convention?: UsageConvention | undefined;
}

/**
 * The convention of AI SDK 5 providers whose counting is known; any other provider is taken to
 * exclude both, which overcounts (cached tokens priced twice) rather than undercounts.
 */
export function v2Convention(provider: string): UsageConvention {
  if (/^(openai|azure)/.test(provider)) return { cachedInputIncluded: true, reasoningIncluded: true };
  if (/^(google|vertex)/.test(provider) && !provider.includes("anthropic")) {
    return { cachedInputIncluded: true, reasoningIncluded: false };
  }
  return { cachedInputIncluded: false, reasoningIncluded: false };
}

/**
 * Converts the usage an AI SDK language model reports into a {@link TokenUsage}, or undefined
 * when it does not say how many input and output tokens there were.
 *
 * - AI SDK 6 and 7 (`LanguageModelV3Usage`, `V4Usage`: the same shape):
 *   `inputTokens.{total, noCache, cacheRead, cacheWrite}` and `outputTokens.{total, text, reasoning}`;
 *   totals include their parts.
 * - AI SDK 5 (`LanguageModelV2Usage`): `inputTokens`, `outputTokens`, `cachedInputTokens`,
 *   `reasoningTokens`, counted per the provider's {@link UsageConvention}.
 *
 * A total smaller than the sum of its parts is raised to that sum: counts are never lowered.
 *
 * @example
 * aiSdkUsage({ inputTokens: { total: 100, noCache: 80, cacheRead: 20, cacheWrite: 0 },
 *              outputTokens: { total: 50, text: 40, reasoning: 10 } });
 * // { inputTokens: 100, cachedInputTokens: 20, cacheWriteTokens: 0, outputTokens: 50, reasoningTokens: 10 }
 */
export function aiSdkUsage(usage: unknown, source: UsageSource = {}): TokenUsage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const report = usage as Record<string, unknown>;
  if (typeof report.inputTokens === "object" && report.inputTokens !== null) return fromV3(report);
  return fromV2(report, source);
}

function fromV3(report: Record<string, unknown>): TokenUsage | undefined {
  const input = report.inputTokens as Record<string, unknown>;
  const output = (typeof report.outputTokens === "object" ? report.outputTokens : null) as Record<
    string,
    unknown
  > | null;
  const noCache = num(input.noCache);
  const cacheRead = num(input.cacheRead);
  const cacheWrite = num(input.cacheWrite);
  const inputTotal = atLeast(num(input.total), sum(noCache, cacheRead, cacheWrite));
  const text = num(output?.text);
  const reasoning = num(output?.reasoning);
  const outputTotal = atLeast(num(output?.total), sum(text, reasoning));
  if (inputTotal === undefined || outputTotal === undefined) return undefined;
  return {
    inputTokens: inputTotal,
    outputTokens: outputTotal,
    cachedInputTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: reasoning,
  };
}

function fromV2(report: Record<string, unknown>, source: UsageSource): TokenUsage | undefined {
  const input = num(report.inputTokens);
  const output = num(report.outputTokens);
  if (input === undefined || output === undefined) return undefined;
  const convention = source.convention ?? v2Convention(source.provider ?? "");
  const cached = num(report.cachedInputTokens) ?? 0;
  const reasoning = num(report.reasoningTokens) ?? 0;
  const written = anthropicCacheWrites(source.providerMetadata);
  // Counts that cannot be part of their total are not, whatever the convention says.
  const cachedInside = convention.cachedInputIncluded && cached + written <= input;
  const reasoningInside = convention.reasoningIncluded && reasoning <= output;
  return {
    inputTokens: cachedInside ? input : input + cached + written,
    outputTokens: reasoningInside ? output : output + reasoning,
    cachedInputTokens: cached,
    cacheWriteTokens: written,
    reasoningTokens: reasoning,
  };
}

function anthropicCacheWrites(metadata: unknown): number {
  const anthropic = (metadata as { anthropic?: { cacheCreationInputTokens?: unknown } } | null | undefined)?.anthropic;
  return num(anthropic?.cacheCreationInputTokens) ?? 0;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** `base + extras`, or undefined without a base: extras alone would not be a total. */
function sum(base: number | undefined, ...extras: (number | undefined)[]): number | undefined {
  if (base === undefined) return undefined;
  return extras.reduce<number>((total, part) => total + (part ?? 0), base);
}

function atLeast(total: number | undefined, parts: number | undefined): number | undefined {
  if (total === undefined) return parts;
  return parts !== undefined && parts > total ? parts : total;
}
