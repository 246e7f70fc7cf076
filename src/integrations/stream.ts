import type { Meter } from "./meter.js";
import type { TokenUsage } from "./pricing.js";

/**
 * Looks at one streamed item: null for an ordinary one; for the one that carries the call's final
 * usage, that usage (undefined if the provider left it out).
 */
export type UsageProbe<T> = (item: T) => { readonly usage: TokenUsage | undefined; readonly raw?: unknown } | null;

/**
 * @internal A ReadableStream that passes `source` through and settles `meter` exactly once:
 * - at the item that carries the final usage: its cost is committed before the item is passed on;
 * - when the source ends, errors, is cancelled by the consumer, or `signal` aborts, without such an
 *   item: the estimate is committed (the call was accepted, so it may have cost money).
 *
 * Settling on abort does not wait for the stream: a provider that ignores the signal would hold it
 * open indefinitely. Nothing is read ahead of the consumer.
 */
export function meterReadableStream<T, C>(
  source: ReadableStream<T>,
  meter: Meter<C>,
  signal: AbortSignal | undefined,
  probe: UsageProbe<T>,
): ReadableStream<T> {
  const reader = source.getReader();
  const finish = settler(meter, signal);
  return new ReadableStream<T>(
    {
      async pull(controller) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          await finish(undefined).catch(() => undefined);
          controller.error(error);
          return;
        }
        if (next.done) {
          try {
            await finish(undefined);
            controller.close();
          } catch (error) {
            controller.error(error);
          }
          return;
        }
        const final = probe(next.value);
        if (final !== null) {
          try {
            await finish(final.usage, final.raw);
          } catch (error) {
            controller.error(error);
            await reader.cancel(error).catch(() => undefined);
            return;
          }
        }
        controller.enqueue(next.value);
      },
      async cancel(reason) {
        try {
          await reader.cancel(reason);
        } finally {
          await finish(undefined);
        }
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * @internal An async iterable that passes `source` through and settles `meter` as
 * {@link meterReadableStream} does. Breaking out of the loop closes the source (an SDK stream then
 * aborts its request) and commits. The abort signal is watched from now, not from the first read.
 */
export function meterAsyncIterable<T, C>(
  source: AsyncIterable<T>,
  meter: Meter<C>,
  signal: AbortSignal | undefined,
  probe: UsageProbe<T>,
): AsyncGenerator<T, void, undefined> {
  const finish = settler(meter, signal);
  return (async function* metered() {
    let failed = false;
    try {
      for await (const item of source) {
        const final = probe(item);
        if (final !== null) await finish(final.usage, final.raw);
        yield item;
      }
    } catch (error) {
      failed = true;
      await finish(undefined).catch(() => undefined);
      throw error;
    } finally {
      // Normal end, or the consumer stopped (`return()`): no usage came, so the estimate stands.
      if (!failed) await finish(undefined);
    }
  })();
}

/**
 * Settles on the first of: final usage, end of stream, abort. The abort listener is removed once
 * settled so that a long-lived signal does not keep this call alive.
 */
function settler<C>(
  meter: Meter<C>,
  signal: AbortSignal | undefined,
): (usage: TokenUsage | undefined, raw?: unknown) => Promise<unknown> {
  const onAbort = () => {
    // Errors surface through the stream's own end (read, cancel), which settles the same way.
    meter.estimate().catch(() => undefined);
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return (usage, raw) => {
    signal?.removeEventListener("abort", onAbort);
    return meter.usage(usage, raw);
  };
}
