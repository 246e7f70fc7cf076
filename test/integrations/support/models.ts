/**
 * Mock language models of both AI SDK versions (the SDKs' own `MockLanguageModelV3` from `ai/test`
 * and `MockLanguageModelV2` from `ai-v5/test`), driven through the real `wrapLanguageModel`,
 * `generateText` and `streamText` of each version, behind one interface so that every middleware
 * test runs against both.
 */
import { generateText as generateText6, streamText as streamText6, wrapLanguageModel as wrap6 } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { generateText as generateText5, streamText as streamText5, wrapLanguageModel as wrap5 } from "ai-v5";
import { MockLanguageModelV2 } from "ai-v5/test";
import type { BudgetMiddleware } from "budgetgate/ai-sdk";

/** Token counts a mock reports, totals including their parts (as TokenUsage counts them). */
export interface Counts {
  readonly input: number;
  readonly output: number;
  readonly cached?: number;
  readonly cacheWrite?: number;
  readonly reasoning?: number;
}

/** What a mock model does when called. */
export interface Script {
  readonly provider?: string;
  readonly modelId?: string;
  /** Words of the answer, one stream delta each. Default 5 words. */
  readonly words?: number;
  /** Usage to report; null reports none (every count undefined). */
  readonly usage?: Counts | null;
  /** The provider call rejects with this. */
  readonly fail?: Error;
  /** Milliseconds between streamed parts. */
  readonly delayMs?: number;
  /** The stream errors after this many text deltas; `withFinish` sends the finish part first. */
  readonly errorAfter?: { readonly deltas: number; readonly withFinish?: boolean };
  /** Runs inside the provider call, before it answers (to look at holds in flight). */
  readonly during?: () => Promise<void> | void;
  /**
   * The provider stream's own cancel, run when its reader cancels it: what it returns or throws is
   * what cancelling the provider does (a promise that never settles, a rejection, a throw).
   */
  readonly cancel?: () => void | PromiseLike<void>;
}

export interface Mock {
  /** How many times the provider was called (generate + stream). */
  calls(): number;
  /** True once the provider's stream was cancelled by its reader. */
  cancelled(): boolean;
}

export interface CallArgs {
  readonly prompt: string;
  readonly providerOptions?: Record<string, Record<string, string>>;
  readonly abortSignal?: AbortSignal;
}

/** A stream part, as far as tests read it. */
export interface Part {
  readonly type: string;
}

export interface Flavor {
  readonly name: string;
  mock(script?: Script): Mock;
  generate(mock: Mock, middleware: BudgetMiddleware, args: CallArgs): Promise<string>;
  stream(
    mock: Mock,
    middleware: BudgetMiddleware,
    args: CallArgs,
  ): { textStream: AsyncIterable<string>; text: PromiseLike<string> };
  /** The wrapped model's raw `doStream`, for reading part by part. */
  doStream(mock: Mock, middleware: BudgetMiddleware, args: CallArgs): Promise<ReadableStream<Part>>;
}

export const DEFAULT_COUNTS: Counts = { input: 1000, output: 500 };

interface Built<M> extends Mock {
  readonly model: M;
}

/** A stream of `parts` that waits `delayMs` between them and records being cancelled. */
function partStream<P>(
  parts: readonly P[],
  script: Script,
  errorAt: number | null,
  error: Error,
): ReadableStream<P> & { wasCancelled(): boolean } {
  let index = 0;
  let cancelled = false;
  const stream = new ReadableStream<P>(
    {
      async pull(controller) {
        if (script.delayMs) await new Promise((resolve) => setTimeout(resolve, script.delayMs));
        if (cancelled) return;
        if (errorAt !== null && index === errorAt) {
          controller.error(error);
          return;
        }
        const part = parts[index++];
        if (part === undefined) controller.close();
        else controller.enqueue(part);
      },
      cancel() {
        cancelled = true;
        return script.cancel?.();
      },
    },
    { highWaterMark: 0 },
  );
  return Object.assign(stream, { wasCancelled: () => cancelled });
}

function words(script: Script): string[] {
  return Array.from({ length: script.words ?? 5 }, (_, i) => `w${i}`);
}

/** Where the stream errors, in parts: after stream-start, text-start, N deltas (and maybe finish). */
function errorIndex(script: Script): number | null {
  if (script.errorAfter === undefined) return null;
  return 2 + script.errorAfter.deltas;
}

// ---------------------------------------------------------------- AI SDK 6 (LanguageModelV3)

function usage3(counts: Counts | null | undefined) {
  const c = counts === undefined ? DEFAULT_COUNTS : counts;
  if (c === null) {
    return {
      inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: undefined, text: undefined, reasoning: undefined },
    };
  }
  const cached = c.cached ?? 0;
  const written = c.cacheWrite ?? 0;
  const reasoning = c.reasoning ?? 0;
  return {
    inputTokens: { total: c.input, noCache: c.input - cached - written, cacheRead: cached, cacheWrite: written },
    outputTokens: { total: c.output, text: c.output - reasoning, reasoning },
  };
}

function parts3(script: Script) {
  const finish = {
    type: "finish" as const,
    finishReason: { unified: "stop" as const, raw: "stop" },
    usage: usage3(script.usage),
  };
  const deltas = words(script).map((w) => ({ type: "text-delta" as const, id: "t", delta: `${w} ` }));
  const early = script.errorAfter?.withFinish === true;
  const body = early
    ? [...deltas.slice(0, script.errorAfter?.deltas), finish]
    : [...deltas, { type: "text-end" as const, id: "t" }, finish];
  return [{ type: "stream-start" as const, warnings: [] }, { type: "text-start" as const, id: "t" }, ...body];
}

export const v6: Flavor = {
  name: "ai@6 (LanguageModelV3)",
  mock(script = {}) {
    let cancelled: (() => boolean) | undefined;
    const model = new MockLanguageModelV3({
      provider: script.provider ?? "mock.chat",
      modelId: script.modelId ?? "mock-model",
      doGenerate: async () => {
        await script.during?.();
        if (script.fail) throw script.fail;
        return {
          content: [{ type: "text", text: words(script).join(" ") }],
          finishReason: { unified: "stop", raw: "stop" },
          usage: usage3(script.usage),
          warnings: [],
        };
      },
      doStream: async () => {
        await script.during?.();
        if (script.fail) throw script.fail;
        const early = script.errorAfter?.withFinish === true;
        const stream = partStream(parts3(script), script, early ? null : errorIndex(script), new Error("stream broke"));
        cancelled = stream.wasCancelled;
        if (early) return { stream: failAfterLast(stream) };
        return { stream };
      },
    });
    const built: Built<MockLanguageModelV3> = {
      model,
      calls: () => model.doGenerateCalls.length + model.doStreamCalls.length,
      cancelled: () => cancelled?.() ?? false,
    };
    return built;
  },
  async generate(mock, middleware, args) {
    const model = wrap6({ model: (mock as Built<MockLanguageModelV3>).model, middleware });
    return (await generateText6({ model, maxRetries: 0, ...args })).text;
  },
  stream(mock, middleware, args) {
    const model = wrap6({ model: (mock as Built<MockLanguageModelV3>).model, middleware });
    return streamText6({ model, maxRetries: 0, ...args, onError: () => undefined });
  },
  async doStream(mock, middleware, args) {
    const model = wrap6({ model: (mock as Built<MockLanguageModelV3>).model, middleware });
    const { stream } = await model.doStream({
      prompt: [{ role: "user", content: [{ type: "text", text: args.prompt }] }],
      providerOptions: args.providerOptions,
      abortSignal: args.abortSignal,
    });
    return stream;
  },
};

// ---------------------------------------------------------------- AI SDK 5 (LanguageModelV2)

/**
 * AI SDK 5 usage the way the mock's provider reports it: OpenAI-style providers count cached tokens
 * inside `inputTokens`; Anthropic's leave cache reads out and report cache writes only in
 * `providerMetadata.anthropic`.
 */
function usage2(counts: Counts | null | undefined, provider: string) {
  const c = counts === undefined ? DEFAULT_COUNTS : counts;
  if (c === null) return { inputTokens: undefined, outputTokens: undefined, totalTokens: undefined };
  const anthropic = provider.startsWith("anthropic");
  const input = anthropic ? c.input - (c.cached ?? 0) - (c.cacheWrite ?? 0) : c.input;
  return {
    inputTokens: input,
    outputTokens: c.output,
    totalTokens: input + c.output,
    cachedInputTokens: c.cached,
    reasoningTokens: c.reasoning,
  };
}

function metadata2(counts: Counts | null | undefined, provider: string) {
  if (!provider.startsWith("anthropic") || !counts?.cacheWrite) return undefined;
  return { anthropic: { cacheCreationInputTokens: counts.cacheWrite } };
}

function parts2(script: Script, provider: string) {
  const finish = {
    type: "finish" as const,
    finishReason: "stop" as const,
    usage: usage2(script.usage, provider),
    providerMetadata: metadata2(script.usage, provider),
  };
  const deltas = words(script).map((w) => ({ type: "text-delta" as const, id: "t", delta: `${w} ` }));
  const early = script.errorAfter?.withFinish === true;
  const body = early
    ? [...deltas.slice(0, script.errorAfter?.deltas), finish]
    : [...deltas, { type: "text-end" as const, id: "t" }, finish];
  return [{ type: "stream-start" as const, warnings: [] }, { type: "text-start" as const, id: "t" }, ...body];
}

export const v5: Flavor = {
  name: "ai@5 (LanguageModelV2)",
  mock(script = {}) {
    let cancelled: (() => boolean) | undefined;
    const provider = script.provider ?? "openai.chat";
    const model = new MockLanguageModelV2({
      provider,
      modelId: script.modelId ?? "mock-model",
      doGenerate: async () => {
        await script.during?.();
        if (script.fail) throw script.fail;
        return {
          content: [{ type: "text", text: words(script).join(" ") }],
          finishReason: "stop",
          usage: usage2(script.usage, provider),
          providerMetadata: metadata2(script.usage, provider),
          warnings: [],
        };
      },
      doStream: async () => {
        await script.during?.();
        if (script.fail) throw script.fail;
        const early = script.errorAfter?.withFinish === true;
        const stream = partStream(
          parts2(script, provider),
          script,
          early ? null : errorIndex(script),
          new Error("stream broke"),
        );
        cancelled = stream.wasCancelled;
        if (early) return { stream: failAfterLast(stream) };
        return { stream };
      },
    });
    const built: Built<MockLanguageModelV2> = {
      model,
      calls: () => model.doGenerateCalls.length + model.doStreamCalls.length,
      cancelled: () => cancelled?.() ?? false,
    };
    return built;
  },
  async generate(mock, middleware, args) {
    const model = wrap5({ model: (mock as Built<MockLanguageModelV2>).model, middleware });
    return (await generateText5({ model, maxRetries: 0, ...args })).text;
  },
  stream(mock, middleware, args) {
    const model = wrap5({ model: (mock as Built<MockLanguageModelV2>).model, middleware });
    return streamText5({ model, maxRetries: 0, ...args, onError: () => undefined });
  },
  async doStream(mock, middleware, args) {
    const model = wrap5({ model: (mock as Built<MockLanguageModelV2>).model, middleware });
    const { stream } = await model.doStream({
      prompt: [{ role: "user", content: [{ type: "text", text: args.prompt }] }],
      providerOptions: args.providerOptions,
      abortSignal: args.abortSignal,
    });
    return stream;
  },
};

/** Passes `source` through, then errors instead of closing: a connection lost after the finish part. */
function failAfterLast<P>(source: ReadableStream<P>): ReadableStream<P> {
  const reader = source.getReader();
  return new ReadableStream<P>(
    {
      async pull(controller) {
        const next = await reader.read();
        if (next.done) controller.error(new Error("connection lost after finish"));
        else controller.enqueue(next.value);
      },
    },
    { highWaterMark: 0 },
  );
}
