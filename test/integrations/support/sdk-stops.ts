/**
 * The ways a consumer stops an OpenAI or Anthropic SDK stream early, each checked against what is
 * recorded: one suite for both wrappers, which settle through the same code.
 */
import type { Settlement } from "budgetgate";
import { expect, it } from "vitest";
import { breakAfter, expectSettledBeforeCancel, fetchWithCancel, type Settling, STUBBORN_CANCELS } from "./cancel.js";

/** What the suite reads of a budgeted SDK stream. */
interface StreamLike extends AsyncIterable<unknown> {
  readonly controller: AbortController | undefined;
  readonly settlement: Promise<Settlement>;
}

/** One SDK's set-up: a budgeted call on its own clock, and a slow stream through it. */
export interface SdkStops {
  readonly estimate: string;
  setup(): Settling & {
    /** Opens a slow stream (time to stop before the final usage), through a client with `fetch` if given. */
    slowStream(fetch?: typeof globalThis.fetch): Promise<StreamLike>;
  };
}

/** Registers the suite's tests in the enclosing `describe`. */
export function itSettlesStoppedStreams({ estimate, setup }: SdkStops): void {
  it.each(STUBBORN_CANCELS)(
    "commits the estimate when the consumer breaks, before closing a response body whose cancel %s",
    async (behaviour, cancel) => {
      const context = setup();
      await expectSettledBeforeCancel(behaviour, context, estimate, async (onCancel) => {
        const stream = await context.slowStream(fetchWithCancel(cancel, onCancel));
        return { stopped: breakAfter(stream, 2) };
      });
    },
  );

  it("commits the estimate when the stream's own controller aborts it, read or not", async () => {
    const context = setup();
    const stream = await context.slowStream();
    stream.controller?.abort();

    expect((await stream.settlement).recorded.toString()).toBe(estimate);
    expect(context.events.map((e) => e.outcome)).toEqual(["estimate"]);
    context.afterTtl();
    expect((await context.spent()).toString()).toBe(estimate);
  });

  it("commits the estimate and closes the request when the consumer throws in its loop", async () => {
    const context = setup();
    const stream = await context.slowStream();
    const mine = new Error("consumer failed");
    await expect(
      (async () => {
        for await (const _ of stream) throw mine;
      })(),
    ).rejects.toBe(mine);

    expect(context.events.map((e) => e.outcome)).toEqual(["estimate"]);
    expect((await context.spent()).toString()).toBe(estimate);
    expect(stream.controller?.signal.aborted).toBe(true);
  });
}
