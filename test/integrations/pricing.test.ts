import { Amount, ConfigurationError, InvalidAmountError } from "budgetgate";
import { aiSdkUsage, type TokenPrices, type TokenUsage, tokenCost, v2Convention } from "budgetgate/ai-sdk";
import { anthropicUsage } from "budgetgate/anthropic";
import { openaiUsage } from "budgetgate/openai";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const UNIT = 10n ** 18n;

describe("tokenCost", () => {
  it("prices input and output per million tokens, exactly", () => {
    const cost = tokenCost({ inputTokens: 1200, outputTokens: 350 }, { input: "2.50", output: "10.00" });
    expect(cost.toString()).toBe("0.0065");
    // The float way drifts: 1200 * 2.5 / 1e6 + 350 * 10 / 1e6 = 0.006500000000000001
    expect((1200 * 2.5) / 1e6 + (350 * 10) / 1e6).not.toBe(0.0065);
  });

  it("takes cached reads, cache writes and reasoning out of their totals and prices them apart", () => {
    const prices: TokenPrices = { input: "3", output: "15", cachedInput: "0.30", cacheWrite: "3.75", reasoning: "20" };
    const usage: TokenUsage = {
      inputTokens: 10_000,
      cachedInputTokens: 6_000,
      cacheWriteTokens: 2_000,
      outputTokens: 1_000,
      reasoningTokens: 400,
    };
    // 2000 × 3 + 6000 × 0.30 + 2000 × 3.75 + 600 × 15 + 400 × 20 = 32 300, per 1M
    expect(tokenCost(usage, prices).toString()).toBe("0.0323");
  });

  it("prices cached input at the input price and reasoning at the output price when not told otherwise", () => {
    const usage = { inputTokens: 1000, cachedInputTokens: 900, outputTokens: 100, reasoningTokens: 90 };
    expect(
      tokenCost(usage, { input: "1", output: "2" }).equals(
        tokenCost({ inputTokens: 1000, outputTokens: 100 }, { input: "1", output: "2" }),
      ),
    ).toBe(true);
  });

  it("rounds up, once, at the 18th decimal place", () => {
    // 1 token at 0.000000000001 per million is 1e-18: exact. At a third of that, it rounds up to 1e-18.
    expect(tokenCost({ inputTokens: 1, outputTokens: 0 }, { input: "0.000000000001", output: "0" }).units).toBe(1n);
    expect(tokenCost({ inputTokens: 1, outputTokens: 0 }, { input: "0.0000000000003", output: "0" }).units).toBe(1n);
    // Two parts that each round up would give 2; summed first, they give 1.
    expect(
      tokenCost({ inputTokens: 1, outputTokens: 1 }, { input: "0.0000000000003", output: "0.0000000000003" }).units,
    ).toBe(1n);
    expect(tokenCost({ inputTokens: 0, outputTokens: 0 }, { input: "5", output: "5" }).isZero()).toBe(true);
  });

  it("matches exact rational arithmetic, rounded up, for any counts and prices", () => {
    const price = fc.bigInt({ min: 0n, max: 10n ** 20n }); // up to 100 per 1M tokens, in 1e-18 units
    const tokens = fc.integer({ min: 0, max: 10_000_000 });
    fc.assert(
      fc.property(
        tokens,
        tokens,
        tokens,
        tokens,
        price,
        price,
        price,
        (input, cachedPart, output, reasoningPart, pIn, pCached, pOut) => {
          const cached = Math.min(cachedPart, input);
          const reasoning = Math.min(reasoningPart, output);
          const cost = tokenCost(
            { inputTokens: input, cachedInputTokens: cached, outputTokens: output, reasoningTokens: reasoning },
            { input: Amount.fromUnits(pIn), cachedInput: Amount.fromUnits(pCached), output: Amount.fromUnits(pOut) },
          );
          const numerator = BigInt(input - cached) * pIn + BigInt(cached) * pCached + BigInt(output) * pOut;
          // cost.units is the least whole number of units ≥ numerator / 1e6.
          expect(cost.units * 1_000_000n >= numerator).toBe(true);
          expect((cost.units - 1n) * 1_000_000n < numerator).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never prices a part below zero when parts exceed their total", () => {
    const cost = tokenCost(
      { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 },
      { input: "1", cachedInput: "1", output: "1" },
    );
    expect(cost.units).toBe((50n * UNIT) / 1_000_000n); // the 50 cached, and no negative remainder
  });

  it("refuses bad token counts and prices, naming them", () => {
    const prices = { input: "1", output: "1" };
    expect(() => tokenCost({ inputTokens: -1, outputTokens: 0 }, prices)).toThrow(InvalidAmountError);
    expect(() => tokenCost({ inputTokens: 1.5, outputTokens: 0 }, prices)).toThrow(
      /inputTokens must be a whole number/,
    );
    expect(() => tokenCost({ inputTokens: 1, outputTokens: Number.NaN }, prices)).toThrow(/outputTokens/);
    expect(() => tokenCost({ inputTokens: 1, outputTokens: 1 }, { input: "-1", output: "1" })).toThrow(/prices\.input/);
    expect(() => tokenCost({ inputTokens: 1, outputTokens: 1 }, { input: "1e3", output: "1" })).toThrow(
      /prices\.input/,
    );
  });

  it("refuses to guess the price of cache writes", () => {
    const usage = { inputTokens: 100, cacheWriteTokens: 10, outputTokens: 1 };
    expect(() => tokenCost(usage, { input: "3", output: "15" })).toThrow(ConfigurationError);
    expect(() => tokenCost(usage, { input: "3", output: "15" })).toThrow(/10 cache-write tokens/);
    expect(tokenCost(usage, { input: "3", output: "15", cacheWrite: "3.75" }).toString()).toBe("0.0003225");
  });
});

describe("usage adapters", () => {
  it("reads AI SDK 6 usage: totals with their parts", () => {
    const usage = aiSdkUsage({
      inputTokens: { total: 100, noCache: 70, cacheRead: 20, cacheWrite: 10 },
      outputTokens: { total: 50, text: 30, reasoning: 20 },
    });
    expect(usage).toEqual({
      inputTokens: 100,
      outputTokens: 50,
      cachedInputTokens: 20,
      cacheWriteTokens: 10,
      reasoningTokens: 20,
    });
  });

  it("raises an AI SDK 6 total that is below its parts, and gives up without totals", () => {
    const usage = aiSdkUsage({
      inputTokens: { total: 10, noCache: 70, cacheRead: 20, cacheWrite: undefined },
      outputTokens: { total: undefined, text: 30, reasoning: 5 },
    });
    expect(usage?.inputTokens).toBe(90);
    expect(usage?.outputTokens).toBe(35);
    const none = aiSdkUsage({
      inputTokens: { total: undefined, noCache: undefined, cacheRead: 5, cacheWrite: undefined },
      outputTokens: { total: 3, text: 3, reasoning: undefined },
    });
    expect(none).toBeUndefined();
    expect(aiSdkUsage(undefined)).toBeUndefined();
  });

  it("reads AI SDK 5 usage by the provider's convention", () => {
    const reported = {
      inputTokens: 1000,
      outputTokens: 200,
      totalTokens: 1200,
      cachedInputTokens: 800,
      reasoningTokens: 150,
    };
    // OpenAI counts cached and reasoning inside the totals.
    expect(aiSdkUsage(reported, { provider: "openai.responses" })).toMatchObject({
      inputTokens: 1000,
      outputTokens: 200,
    });
    // Anthropic leaves cache reads (and writes, reported in providerMetadata) out of inputTokens.
    expect(
      aiSdkUsage(reported, {
        provider: "anthropic.messages",
        providerMetadata: { anthropic: { cacheCreationInputTokens: 300 } },
      }),
    ).toMatchObject({ inputTokens: 2100, cachedInputTokens: 800, cacheWriteTokens: 300, outputTokens: 350 });
    // Google counts cached input inside, reasoning outside.
    expect(aiSdkUsage(reported, { provider: "google.generative-ai" })).toMatchObject({
      inputTokens: 1000,
      outputTokens: 350,
    });
    // Unknown providers: counted apart, which can only overcount.
    expect(aiSdkUsage(reported, { provider: "someone.else" })).toMatchObject({ inputTokens: 1800, outputTokens: 350 });
    // The caller's convention wins.
    const convention = { cachedInputIncluded: true, reasoningIncluded: true };
    expect(aiSdkUsage(reported, { provider: "someone.else", convention })).toMatchObject({
      inputTokens: 1000,
      outputTokens: 200,
    });
    expect(v2Convention("vertex.anthropic.messages").cachedInputIncluded).toBe(false);
  });

  it("does not believe a convention that parts larger than their total contradict", () => {
    const reported = { inputTokens: 50, outputTokens: 10, totalTokens: 60, cachedInputTokens: 9000 };
    expect(aiSdkUsage(reported, { provider: "openai.chat" })?.inputTokens).toBe(9050);
    expect(aiSdkUsage({ inputTokens: undefined, outputTokens: 3, totalTokens: 3 })).toBeUndefined();
  });

  it("reads OpenAI Chat Completions and Responses usage", () => {
    expect(
      openaiUsage({
        prompt_tokens: 1200,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 1000 },
        completion_tokens_details: { reasoning_tokens: 100 },
      }),
    ).toEqual({ inputTokens: 1200, outputTokens: 300, cachedInputTokens: 1000, reasoningTokens: 100 });
    expect(
      openaiUsage({
        input_tokens: 40,
        output_tokens: 9,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 4 },
      }),
    ).toEqual({ inputTokens: 40, outputTokens: 9, cachedInputTokens: 0, reasoningTokens: 4 });
    expect(openaiUsage(null)).toBeUndefined();
  });

  it("reads Anthropic usage, adding the cache back into the input total", () => {
    expect(
      anthropicUsage({
        input_tokens: 50,
        output_tokens: 200,
        cache_read_input_tokens: 10_000,
        cache_creation_input_tokens: 1_000,
        output_tokens_details: { thinking_tokens: 120 },
      }),
    ).toEqual({
      inputTokens: 11_050,
      outputTokens: 200,
      cachedInputTokens: 10_000,
      cacheWriteTokens: 1_000,
      reasoningTokens: 120,
    });
    expect(anthropicUsage({ input_tokens: 5, output_tokens: null })).toBeUndefined();
  });
});
