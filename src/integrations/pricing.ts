import { Amount, type AmountInput, ConfigurationError, InvalidAmountError } from "budgetgate";

/**
 * Token counts of one model call, in one convention whatever the SDK: the totals include their
 * parts. `inputTokens` counts every prompt token, cached reads and cache writes included;
 * `outputTokens` counts every generated token, reasoning included. The other fields say how many
 * of those are billed at another price. The SDK adapters (`aiSdkUsage`, `openaiUsage`,
 * `anthropicUsage`) convert each SDK's own shape into this one.
 */
export interface TokenUsage {
  /** All input (prompt) tokens, cached reads and cache writes included. */
  readonly inputTokens: number;
  /** All output (completion) tokens, reasoning included. */
  readonly outputTokens: number;
  /** Of `inputTokens`, those read from the provider's prompt cache. */
  readonly cachedInputTokens?: number | undefined;
  /** Of `inputTokens`, those written to the provider's prompt cache. */
  readonly cacheWriteTokens?: number | undefined;
  /** Of `outputTokens`, the reasoning ("thinking") tokens. */
  readonly reasoningTokens?: number | undefined;
}

/**
 * Prices per million tokens, in your currency, as exact amounts (`"2.50"` is 2.50 per 1M tokens).
 * budgetgate ships no price table: prices change and differ by contract, so they are yours to pass.
 */
export interface TokenPrices {
  /** Per 1M input tokens not read from or written to the cache. */
  readonly input: AmountInput;
  /** Per 1M output tokens that are not reasoning tokens. */
  readonly output: AmountInput;
  /** Per 1M cached input tokens. Default: the `input` price (never undercounts). */
  readonly cachedInput?: AmountInput | undefined;
  /**
   * Per 1M tokens written to the prompt cache. No default: cache writes can cost more than plain
   * input (Anthropic: 1.25× for 5-minute writes), so usage that reports any needs this price.
   */
  readonly cacheWrite?: AmountInput | undefined;
  /** Per 1M reasoning tokens. Default: the `output` price. */
  readonly reasoning?: AmountInput | undefined;
}

const MILLION = 1_000_000n;

/**
 * The cost of `usage` at `prices`: Σ tokens × price-per-million ÷ 10⁶, computed exactly in 10⁻¹⁸
 * units and rounded up once, at the 18th decimal place, so that a cost is never undercounted.
 *
 * Cached reads and cache writes are taken out of `inputTokens` and priced at their own rates;
 * reasoning tokens are taken out of `outputTokens` likewise. Parts larger than their total (an
 * inconsistent report) are priced in full and the remainder counted as zero, never negative.
 *
 * @throws {InvalidAmountError} for a price that is not a valid amount, or a token count that is
 * not a whole number ≥ 0. {@link ConfigurationError} when `usage` reports cache writes and
 * `prices.cacheWrite` is missing.
 * @example
 * tokenCost({ inputTokens: 1200, outputTokens: 350 }, { input: "2.50", output: "10.00" }).toString();
 * // "0.0065"  (1200 × 2.50 / 1e6 + 350 × 10.00 / 1e6)
 */
export function tokenCost(usage: TokenUsage, prices: TokenPrices): Amount {
  if (typeof usage !== "object" || usage === null) {
    throw new InvalidAmountError(usage, "expected token usage { inputTokens, outputTokens, … }");
  }
  if (typeof prices !== "object" || prices === null) {
    throw new ConfigurationError(`Invalid prices ${String(prices)}: expected { input, output, … } per 1M tokens`);
  }
  const input = count("inputTokens", usage.inputTokens);
  const output = count("outputTokens", usage.outputTokens);
  const cached = count("cachedInputTokens", usage.cachedInputTokens ?? 0);
  const written = count("cacheWriteTokens", usage.cacheWriteTokens ?? 0);
  const reasoning = count("reasoningTokens", usage.reasoningTokens ?? 0);

  const inputPrice = price("input", prices.input);
  const outputPrice = price("output", prices.output);
  const cachedPrice = prices.cachedInput === undefined ? inputPrice : price("cachedInput", prices.cachedInput);
  const reasoningPrice = prices.reasoning === undefined ? outputPrice : price("reasoning", prices.reasoning);
  if (written > 0n && prices.cacheWrite === undefined) {
    throw new ConfigurationError(
      `Usage reports ${written} cache-write tokens but prices has no cacheWrite: pass prices.cacheWrite (per 1M tokens) so that cache writes are not undercounted`,
    );
  }
  const writePrice = prices.cacheWrite === undefined ? 0n : price("cacheWrite", prices.cacheWrite).units;

  const plainInput = nonNegative(input - cached - written);
  const plainOutput = nonNegative(output - reasoning);
  const scaled =
    plainInput * inputPrice.units +
    cached * cachedPrice.units +
    written * writePrice +
    plainOutput * outputPrice.units +
    reasoning * reasoningPrice.units;
  // Ceiling division: the one rounding there is goes up.
  const units = (scaled + MILLION - 1n) / MILLION;
  return Amount.fromUnits(units, Math.max(inputPrice.scale, outputPrice.scale));
}

function count(field: string, value: unknown): bigint {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidAmountError(value, `token count ${field} must be a whole number ≥ 0`);
  }
  return BigInt(value);
}

function price(field: string, value: AmountInput): Amount {
  try {
    return Amount.from(value);
  } catch (error) {
    if (error instanceof InvalidAmountError) {
      throw new InvalidAmountError(value, `prices.${field} (per 1M tokens): ${error.message}`);
    }
    throw error;
  }
}

function nonNegative(value: bigint): bigint {
  return value < 0n ? 0n : value;
}
