/**
 * Providers whose stream cancel misbehaves, for checking that a budgeted call is settled before the
 * provider's stream is cancelled, whatever that cancel then does.
 */
import { DEFAULT_RESERVATION_TTL } from "budgetgate";

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

/**
 * Notes what had been settled when the provider's cancel was reached: `onCancel` is called from the
 * cancel, `reached` resolves to `settled()` as it was then.
 */
export function watchCancel<T>(settled: () => T): { readonly onCancel: () => void; readonly reached: Promise<T> } {
  let onCancel!: () => void;
  const reached = new Promise<T>((resolve) => {
    onCancel = () => resolve(settled());
  });
  return { onCancel, reached };
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
