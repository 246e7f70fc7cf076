/**
 * Providers whose stream cancel misbehaves, for checking that a budgeted call is settled before the
 * provider's stream is cancelled, whatever that cancel then does.
 */
import { type Amount, DEFAULT_RESERVATION_TTL } from "budgetgate";
import { expect } from "vitest";

/** A provider stream's cancel that never settles, rejects, or throws. */
export const STUBBORN_CANCELS: readonly (readonly [string, () => void | PromiseLike<void>])[] = [
  ["never settles", () => new Promise<void>(() => undefined)],
  ["rejects", () => Promise.reject(new Error("cancel refused"))],
  [
    "throws",
    () => {
      throw new Error("cancel threw");
    },
  ],
];

/**
 * A `fetch` for an SDK client whose response bodies are cancelled by `cancel` (after `onCancel` is
 * told), as a stuck connection would be. The real connection underneath is closed all the same.
 */
export function fetchWithCancel(cancel: () => void | PromiseLike<void>, onCancel: () => void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.body === null) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel(reason) {
          reader.cancel(reason).catch(() => undefined);
          onCancel();
          return cancel();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** What the settle-before-cancel scenario reads of a test's set-up. */
export interface Settling {
  readonly events: readonly { readonly outcome: string }[];
  afterTtl(): void;
  spent(): Promise<Amount>;
}

/**
 * A consumer stops a stream early, and the provider's cancel does `behaviour`. `start(onCancel)`
 * makes the call against a provider that calls `onCancel` from its cancel, stops reading, and
 * hands back the consumer's stop (its `cancel()`, or its loop that breaks). Checks that the call
 * was settled with the estimate when the provider's cancel was reached, is still recorded once the
 * holds' TTL has passed (when an unsettled hold counts for nothing), and that the provider's own
 * answer to the cancel reaches the consumer unchanged.
 */
export async function expectSettledBeforeCancel(
  behaviour: string,
  settling: Settling,
  estimate: string,
  start: (onCancel: () => void) => Promise<{ readonly stopped: Promise<unknown> }>,
): Promise<void> {
  let onCancel!: () => void;
  const reached = new Promise<string[]>((resolve) => {
    onCancel = () => resolve(settling.events.map((e) => e.outcome));
  });
  const { stopped } = await start(onCancel);
  const stop = stopped.then(
    () => "resolved",
    (error: Error) => error.message,
  );

  expect(await reached).toEqual(["estimate"]);
  settling.afterTtl();
  expect((await settling.spent()).toString()).toBe(estimate);
  if (behaviour !== "never settles") expect(await stop).toMatch(/^cancel (refused|threw)$/);
}

/** Reads `count` items of `stream`, then breaks out of the loop. */
export async function breakAfter(stream: AsyncIterable<unknown>, count: number): Promise<void> {
  let seen = 0;
  for await (const _ of stream) if (++seen === count) break;
}

/** A clock for an engine, and a way past its holds' TTL: an unsettled hold then counts for nothing. */
export function ttlClock(): { readonly clock: () => number; afterTtl(): void } {
  let now = 0;
  return {
    clock: () => now,
    afterTtl() {
      now += DEFAULT_RESERVATION_TTL + 1;
    },
  };
}
