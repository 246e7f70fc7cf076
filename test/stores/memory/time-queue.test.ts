import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimeHeap } from "../../../src/stores/memory/time-heap.js";
import { TimeQueue } from "../../../src/stores/memory/time-queue.js";

describe("TimeQueue and TimeHeap", () => {
  it("give entries back oldest first, whatever order they came in", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: 0, max: 1000, noNaN: true }), fc.constant(-1)), { maxLength: 400 }),
        (script) => {
          const queue = new TimeQueue<number>();
          const heap = new TimeHeap<number>();
          const model: number[] = [];
          let clock = 0;
          for (const step of script) {
            if (step === -1) {
              if (model.length === 0) continue;
              model.sort((a, b) => a - b);
              const oldest = model.shift() as number;
              expect(queue.peekTime()).toBe(oldest);
              expect(queue.pop()).toBe(oldest);
              expect(heap.pop()).toBe(oldest);
            } else {
              // mostly increasing times, sometimes older ones
              if (step < 900) clock += step / 100;
              const time = step < 900 ? clock : clock - step / 10;
              queue.push(time, time);
              heap.push(time, time);
              model.push(time);
            }
            expect(queue.size).toBe(model.length);
            expect(heap.size).toBe(model.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
