import { describe, expect, it } from "vitest";
import { MAX_BATCH, type Operation, redisBatcher } from "../../../src/stores/redis/batch.js";

/** An operation with nothing but a tag: the batcher looks at nothing else. */
function op(tag = "t"): Operation {
  return { tag } as unknown as Operation;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("redisBatcher", () => {
  function rig(byTag = false) {
    const sent: Operation[][] = [];
    const pending: (() => void)[] = [];
    const batcher = redisBatcher((operations) => {
      sent.push(operations);
      return new Promise<void>((resolve) => pending.push(resolve));
    }, byTag);
    return { batcher, sent, pending };
  }

  it("sends a tick's operations as two calls when none is in flight, so that two calls alternate", async () => {
    const { batcher, sent } = rig();
    for (let i = 0; i < 16; i++) batcher.push(op());
    await tick();
    expect(sent.map((b) => b.length)).toEqual([8, 8]);
  });

  it("sends a tick's operations as one call while another is in flight, up to MAX_BATCH each", async () => {
    const { batcher, sent, pending } = rig();
    batcher.push(op());
    await tick();
    expect(sent.map((b) => b.length)).toEqual([1]);
    for (let i = 0; i < MAX_BATCH + 6; i++) batcher.push(op());
    await tick();
    expect(sent.map((b) => b.length)).toEqual([1, MAX_BATCH, 6]);
    for (const resolve of pending) resolve();
    await tick();
    for (let i = 0; i < 4; i++) batcher.push(op());
    await tick();
    expect(sent.at(-2)?.length).toBe(2); // nothing in flight again: split
    expect(sent.at(-1)?.length).toBe(2);
  });

  it("keeps one hash tag per call on a cluster", async () => {
    const { batcher, sent } = rig(true);
    for (const tag of ["a", "b", "a", "c", "b"]) batcher.push(op(tag));
    await tick();
    expect(sent.map((b) => b.map((o) => o.tag).join(""))).toEqual(["aa", "bb", "c"]);
  });
});
