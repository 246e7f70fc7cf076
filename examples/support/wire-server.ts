/**
 * A local HTTP server that speaks just enough of the OpenAI (Chat Completions, Responses) and
 * Anthropic (Messages) wire formats for the official SDKs to talk to it, with `baseURL` pointed
 * here. It answers deterministically and offline, so that examples and tests exercise the real
 * SDKs' request, response and SSE-stream code.
 *
 * Behaviour is chosen by the requested model name:
 * - contains `error`: a 400 API error, before any output;
 * - contains `drop`: a stream that sends two events, then the connection drops;
 * - contains `slow`: 40 ms between streamed events (time to abort);
 * - anything else: a normal answer, echoing the last user message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Token counts the server reports for one request. */
export interface WireUsage {
  readonly input: number;
  readonly output: number;
  readonly cached?: number;
  readonly cacheWrite?: number;
  readonly reasoning?: number;
}

/** What the server saw of one request. */
export interface WireRequest {
  readonly api: "chat" | "responses" | "messages";
  readonly model: string;
  readonly stream: boolean;
  readonly body: Record<string, unknown>;
}

export interface WireServerOptions {
  /** The usage to report for a request. Default: words in the prompt + 5 in, reply words out. */
  readonly usage?: (request: WireRequest, reply: readonly string[]) => WireUsage;
}

/** A running wire server. */
export interface WireServer {
  /** `http://127.0.0.1:<port>`; OpenAI's baseURL is this + `/v1`, Anthropic's is this. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: WireRequest[];
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

/**
 * Starts a wire server on a free port of 127.0.0.1.
 * @example
 * const server = await startWireServer();
 * const client = new OpenAI({ apiKey: "test", baseURL: `${server.url}/v1` });
 * …
 * await server.close();
 */
export async function startWireServer(options: WireServerOptions = {}): Promise<WireServer> {
  const requests: WireRequest[] = [];
  const server: Server = createServer((req, res) => {
    handle(req, res, requests, options).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error), type: "server_error" } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  requests: WireRequest[],
  options: WireServerOptions,
): Promise<void> {
  const api =
    req.url === "/v1/chat/completions"
      ? "chat"
      : req.url === "/v1/responses"
        ? "responses"
        : req.url === "/v1/messages"
          ? "messages"
          : null;
  if (req.method !== "POST" || api === null) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `No route ${req.method} ${req.url}`, type: "not_found" } }));
    return;
  }
  const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
  const request: WireRequest = { api, model: String(body.model), stream: body.stream === true, body };
  requests.push(request);

  if (request.model.includes("error")) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify(apiError(api, `The model ${request.model} does not exist`)));
    return;
  }
  const prompt = promptText(api, body);
  const reply = `echo: ${lastWords(prompt, 8)}`.split(" ");
  const usage = options.usage?.(request, reply) ?? {
    input: prompt.split(/\s+/).filter(Boolean).length + 5,
    output: reply.length,
  };
  const events =
    api === "chat"
      ? chatEvents(request, reply, usage)
      : api === "responses"
        ? responsesEvents(request, reply, usage)
        : messagesEvents(request, reply, usage);

  if (!request.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(events.whole));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  const delay = request.model.includes("slow") ? 40 : 0;
  let sent = 0;
  for (const event of events.stream) {
    if (res.destroyed) return;
    if (request.model.includes("drop") && sent === 2) {
      res.destroy();
      return;
    }
    await new Promise<void>((resolve) => res.write(event, () => resolve()));
    sent++;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }
  res.end();
}

interface Events {
  readonly whole: unknown;
  readonly stream: readonly string[];
}

function chatEvents(request: WireRequest, reply: readonly string[], usage: WireUsage): Events {
  const base = { id: "chatcmpl-local", created: 1_700_000_000, model: request.model, system_fingerprint: null };
  const wireUsage = {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
    prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
  };
  const includeUsage = (request.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const chunk = (delta: object, finish: string | null, extra: object = {}) =>
    sse(null, {
      ...base,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    });
  const stream = [
    chunk({ role: "assistant", content: "" }, null),
    ...reply.map((word, i) => chunk({ content: i === 0 ? word : ` ${word}` }, null)),
    chunk({}, "stop"),
    ...(includeUsage ? [sse(null, { ...base, object: "chat.completion.chunk", choices: [], usage: wireUsage })] : []),
    "data: [DONE]\n\n",
  ];
  const whole = {
    ...base,
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: reply.join(" "), refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: wireUsage,
  };
  return { whole, stream };
}

function responsesEvents(request: WireRequest, reply: readonly string[], usage: WireUsage): Events {
  const text = reply.join(" ");
  const response = (status: string, output: unknown[], withUsage: boolean) => ({
    id: "resp_local",
    object: "response",
    created_at: 1_700_000_000,
    status,
    model: request.model,
    output,
    output_text: status === "completed" ? text : "",
    error: null,
    incomplete_details: null,
    usage: withUsage
      ? {
          input_tokens: usage.input,
          input_tokens_details: { cached_tokens: usage.cached ?? 0 },
          output_tokens: usage.output,
          output_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
          total_tokens: usage.input + usage.output,
        }
      : null,
  });
  const message = {
    id: "msg_local",
    type: "message",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text, annotations: [] }],
  };
  let sequence = 0;
  const event = (type: string, data: object) => sse(type, { type, sequence_number: sequence++, ...data });
  const stream = [
    event("response.created", { response: response("in_progress", [], false) }),
    ...reply.map((word, i) =>
      event("response.output_text.delta", {
        item_id: "msg_local",
        output_index: 0,
        content_index: 0,
        delta: i === 0 ? word : ` ${word}`,
      }),
    ),
    event("response.output_text.done", { item_id: "msg_local", output_index: 0, content_index: 0, text }),
    event("response.completed", { response: response("completed", [message], true) }),
  ];
  return { whole: response("completed", [message], true), stream };
}

function messagesEvents(request: WireRequest, reply: readonly string[], usage: WireUsage): Events {
  const cached = usage.cached ?? 0;
  const written = usage.cacheWrite ?? 0;
  // Anthropic reports input_tokens without the cache; the server is told totals, as TokenUsage counts.
  const wireUsage = {
    input_tokens: usage.input - cached - written,
    output_tokens: usage.output,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: written,
  };
  const message = (content: unknown[], stop: string | null, reported: object) => ({
    id: "msg_local",
    type: "message",
    role: "assistant",
    model: request.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: reported,
  });
  const text = reply.join(" ");
  const stream = [
    sse("message_start", { type: "message_start", message: message([], null, { ...wireUsage, output_tokens: 1 }) }),
    sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    sse("ping", { type: "ping" }),
    ...reply.map((word, i) =>
      sse("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: i === 0 ? word : ` ${word}` },
      }),
    ),
    sse("content_block_stop", { type: "content_block_stop", index: 0 }),
    sse("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: {
        output_tokens: usage.output,
        input_tokens: null,
        cache_read_input_tokens: null,
        cache_creation_input_tokens: null,
      },
    }),
    sse("message_stop", { type: "message_stop" }),
  ];
  return { whole: message([{ type: "text", text }], "end_turn", wireUsage), stream };
}

function apiError(api: WireRequest["api"], message: string): unknown {
  return api === "messages"
    ? { type: "error", error: { type: "invalid_request_error", message } }
    : { error: { message, type: "invalid_request_error", param: "model", code: "model_not_found" } };
}

function sse(event: string | null, data: unknown): string {
  return `${event === null ? "" : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`;
}

function promptText(api: WireRequest["api"], body: Record<string, unknown>): string {
  const parts: string[] = [];
  const collect = (content: unknown): void => {
    if (typeof content === "string") parts.push(content);
    else if (Array.isArray(content)) {
      for (const part of content)
        collect((part as { text?: unknown; content?: unknown }).text ?? (part as { content?: unknown }).content);
    }
  };
  if (api === "responses") collect(body.input);
  else for (const message of (body.messages as { content?: unknown }[] | undefined) ?? []) collect(message.content);
  if (typeof body.system === "string") parts.unshift(body.system);
  return parts.join(" ");
}

function lastWords(text: string, count: number): string {
  return text.split(/\s+/).filter(Boolean).slice(-count).join(" ") || "(nothing)";
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
