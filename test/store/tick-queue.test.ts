import { describe, expect, it } from "vitest";
import { TickQueue } from "../../src/store.js";

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("TickQueue", () => {
  it("hands the calls of one tick over together, after the tick's promise callbacks", async () => {
    const drained: number[][] = [];
    const queue = new TickQueue<number>((items) => drained.push(items.splice(0)));
    queue.push(1);
    await Promise.resolve(); // a microtask later is still the same tick
    queue.push(2);
    expect(drained).toEqual([]);
    await tick();
    queue.push(3);
    await tick();
    expect(drained).toEqual([[1, 2], [3]]);
  });

  it("keeps what a drain leaves, oldest first, for the drain that wake asks for", async () => {
    const drained: number[][] = [];
    const queue = new TickQueue<number>((items) => drained.push(items.splice(0, 2)));
    for (let i = 1; i <= 5; i++) queue.push(i);
    await tick();
    expect(drained).toEqual([[1, 2]]);
    queue.wake();
    await tick();
    queue.pushFront([0]);
    await tick();
    expect(drained).toEqual([
      [1, 2],
      [3, 4],
      [0, 5],
    ]);
  });

  it("does not drain an empty queue", async () => {
    let drains = 0;
    const queue = new TickQueue<number>(() => drains++);
    queue.wake();
    await tick();
    expect(drains).toBe(0);
  });
});
