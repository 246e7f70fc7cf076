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
 * Neither settling on abort nor settling on cancel waits for the provider: a cancel is passed on to
 * the source only once the call is settled, since a provider's cancel may never finish. Nothing is
 * read ahead of the consumer.
 */
export function meterReadableStream<T, C>(
  source: ReadableStream<T>,
  meter: Meter<C>,
  signal: AbortSignal | undefined,
  probe: UsageProbe<T>,
): ReadableStream<T> {
  const reader = source.getReader();
  const finish = settler(meter, [signal]);
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
      cancel(reason) {
        return settleThenClose(finish, () => reader.cancel(reason));
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * @internal An async iterable that passes `source` through and settles `meter` as
 * {@link meterReadableStream} does, on the first of `signals` to abort. Breaking out of the loop
 * (or throwing in it) settles, then closes the source (an SDK stream then aborts its request). The
 * signals are watched from now, not from the first read, so that a stream aborted before it is read
 * is settled too.
 */
export function meterAsyncIterable<T, C>(
  source: AsyncIterable<T>,
  meter: Meter<C>,
  signals: readonly (AbortSignal | undefined)[],
  probe: UsageProbe<T>,
): AsyncGenerator<T, void, undefined> {
  const finish = settler(meter, signals);
  return (async function* metered() {
    const iterator = source[Symbol.asyncIterator]();
    // Iterated by hand rather than with for-await, which would close the source before settling.
    let ended = false;
    let failed = false;
    try {
      for (;;) {
        let next: IteratorResult<T>;
        try {
          next = await iterator.next();
        } catch (error) {
          ended = true; // a source whose next() throws is done: there is nothing to close
          throw error;
        }
        if (next.done === true) {
          ended = true;
          return;
        }
        const final = probe(next.value);
        if (final !== null) await finish(final.usage, final.raw);
        yield next.value;
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // Normal end, an error, or the consumer stopped (`return()` at the yield): unless the usage
      // came, the estimate stands. After an error, that error is the one the consumer gets.
      const stopping = settleThenClose(finish, ended ? undefined : () => iterator.return?.());
      await (failed ? stopping.catch(() => undefined) : stopping);
    }
  })();
}

/**
 * Settles (usage already committed, else the estimate), then closes the source, which may never
 * finish, reject or throw: the hold is settled whatever closing does, and a failed settlement does
 * not keep the provider streaming. Closing's own outcome is passed on; a settlement error after it.
 */
async function settleThenClose(
  finish: (usage: undefined) => Promise<unknown>,
  close: (() => unknown) | undefined,
): Promise<void> {
  const failure = await finish(undefined).then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  await close?.();
  if (failure !== undefined) throw failure.error;
}

/**
 * Settles on the first of: final usage, end of stream, an abort of any of `signals`. The abort
 * listeners are removed once settled so that a long-lived signal does not keep this call alive.
 */
function settler<C>(
  meter: Meter<C>,
  signals: readonly (AbortSignal | undefined)[],
): (usage: TokenUsage | undefined, raw?: unknown) => Promise<unknown> {
  const watched = signals.filter((signal) => signal !== undefined);
  const onAbort = () => {
    // Errors surface through the stream's own end (read, cancel), which settles the same way.
    meter.estimate().catch(() => undefined);
  };
  if (watched.some((signal) => signal.aborted)) onAbort();
  else for (const signal of watched) signal.addEventListener("abort", onAbort, { once: true });
  return (usage, raw) => {
    for (const signal of watched) signal.removeEventListener("abort", onAbort);
    return meter.usage(usage, raw);
  };
}
