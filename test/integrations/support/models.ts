/**
 * Mock language models of every AI SDK version the middleware supports (each SDK's own mock from
 * its `ai/test`: `MockLanguageModelV2` of AI SDK 5, `V3` of 6, `V4` of 7 in ./models-v7.ts), driven
 * through the real `wrapLanguageModel`, `generateText` and `streamText` of each version, behind one
 * interface so that every middleware test runs against all of them.
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

/** `streamText`'s `onError`: told of an error the stream carries instead of throwing it. */
export type StreamErrorHandler = (event: { error: unknown }) => void;

/** A stream part, as far as tests read it. */
export interface Part {
  readonly type: string;
}

export interface Flavor {
  readonly name: string;
  mock(script?: Script): Mock;
  generate(mock: Mock, middleware: BudgetMiddleware, args: CallArgs): Promise<string>;
  /** `streamText` through the wrapped model; its errors go to `onError` (ignored when not given). */
  stream(
    mock: Mock,
    middleware: BudgetMiddleware,
    args: CallArgs & { readonly onError?: StreamErrorHandler },
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

/**
 * Mock-model options that play `script`: a generate call answers `result()`, a stream call streams
 * `parts()` (fresh objects each call); both first run `script.during` and fail with `script.fail`.
 */
function scripted<R, P>(
  script: Script,
  streamed: (wasCancelled: () => boolean) => void,
  provider: string,
  result: () => R,
  parts: () => readonly P[],
) {
  const answer = async () => {
    await script.during?.();
    if (script.fail) throw script.fail;
  };
  return {
    provider,
    modelId: script.modelId ?? "mock-model",
    doGenerate: async () => {
      await answer();
      return result();
    },
    doStream: async () => {
      await answer();
      const early = script.errorAfter?.withFinish === true;
      const stream = partStream(parts(), script, early ? null : errorIndex(script), new Error("stream broke"));
      streamed(stream.wasCancelled);
      return { stream: early ? failAfterLast(stream) : stream };
    },
  };
}

/** The options of a `LanguageModelV3` or `V4` mock (the two specifications agree on these parts). */
export function mockOptions3(script: Script, streamed: (wasCancelled: () => boolean) => void) {
  const result = () => ({
    content: [{ type: "text" as const, text: words(script).join(" ") }],
    finishReason: { unified: "stop" as const, raw: "stop" },
    usage: usage3(script.usage),
    warnings: [],
  });
  return scripted(script, streamed, script.provider ?? "mock.chat", result, () => parts3(script));
}

/** Builds a mock model's constructor options from a script; tells `streamed` of each stream it opens. */
type MockOptions<O> = (script: Script, streamed: (wasCancelled: () => boolean) => void) => O;

/** The functions of an AI SDK that the tests drive, over its mock model class. */
export interface Sdk<O, M, W> {
  readonly Mock: new (options: O) => M & { readonly doGenerateCalls: unknown[]; readonly doStreamCalls: unknown[] };
  readonly mockOptions: MockOptions<O>;
  wrapLanguageModel(options: { model: M; middleware: BudgetMiddleware }): W;
  generateText(options: { model: W; maxRetries: number } & CallArgs): PromiseLike<{ text: string }>;
  streamText(
    options: { model: W; maxRetries: number; onError: StreamErrorHandler } & CallArgs,
  ): ReturnType<Flavor["stream"]>;
}

/** The flavor of one AI SDK version: its mock model, driven through its own functions. */
export function flavor<O, M, W extends { doStream(options: unknown): PromiseLike<{ stream: unknown }> }>(
  name: string,
  sdk: Sdk<O, M, W>,
): Flavor {
  const modelOf = (mock: Mock) => (mock as Built<M>).model;
  return {
    name,
    mock(script = {}) {
      let cancelled: (() => boolean) | undefined;
      const model = new sdk.Mock(
        sdk.mockOptions(script, (wasCancelled) => {
          cancelled = wasCancelled;
        }),
      );
      const built: Built<M> = {
        model,
        calls: () => model.doGenerateCalls.length + model.doStreamCalls.length,
        cancelled: () => cancelled?.() ?? false,
      };
      return built;
    },
    async generate(mock, middleware, args) {
      const model = sdk.wrapLanguageModel({ model: modelOf(mock), middleware });
      return (await sdk.generateText({ model, maxRetries: 0, ...args })).text;
    },
    stream(mock, middleware, args) {
      const model = sdk.wrapLanguageModel({ model: modelOf(mock), middleware });
      return sdk.streamText({ model, maxRetries: 0, onError: () => undefined, ...args });
    },
    async doStream(mock, middleware, args) {
      const model = sdk.wrapLanguageModel({ model: modelOf(mock), middleware });
      const { stream } = await model.doStream({
        prompt: [{ role: "user", content: [{ type: "text", text: args.prompt }] }],
        providerOptions: args.providerOptions,
        abortSignal: args.abortSignal,
      });
      return stream as ReadableStream<Part>;
    },
  };
}

export const v6: Flavor = flavor("ai@6 (LanguageModelV3)", {
  Mock: MockLanguageModelV3,
  mockOptions: mockOptions3,
  wrapLanguageModel: wrap6,
  generateText: generateText6,
  streamText: streamText6,
});

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

function mockOptions2(script: Script, streamed: (wasCancelled: () => boolean) => void) {
  const provider = script.provider ?? "openai.chat";
  const result = () => ({
    content: [{ type: "text" as const, text: words(script).join(" ") }],
    finishReason: "stop" as const,
    usage: usage2(script.usage, provider),
    providerMetadata: metadata2(script.usage, provider),
    warnings: [],
  });
  return scripted(script, streamed, provider, result, () => parts2(script, provider));
}

export const v5: Flavor = flavor("ai@5 (LanguageModelV2)", {
  Mock: MockLanguageModelV2,
  mockOptions: mockOptions2,
  wrapLanguageModel: wrap5,
  generateText: generateText5,
  streamText: streamText5,
});

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

/** The Node major the AI SDK 7 tests need (its `engines`). */
export const AI_SDK_7_NODE = 22;

/**
 * The AI SDK versions to test on this Node: 6 and 5 everywhere, and 7 from Node 22 on. On an older
 * Node the AI SDK 7 tests are skipped, and one line on stderr says so (CI runs them on 22 and 24).
 */
export async function aiSdkFlavors(): Promise<Flavor[]> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= AI_SDK_7_NODE) return [v6, v5, (await import("./models-v7.js")).v7];
  console.warn(
    `SKIPPED: the AI SDK 7 (ai@7) middleware tests need Node ${AI_SDK_7_NODE} or later; this is Node ${process.versions.node}.`,
  );
  return [v6, v5];
}
