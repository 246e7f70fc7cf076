import { MemoryStore, StoreError } from "../../src/index.js";
import type { Awaitable, Store, StoreCall } from "../../src/store.js";

/**
 * A real MemoryStore whose calls can be made to fail or hang, to exercise the engine's handling of
 * store failures (docs/semantics.md §12) and timeouts. `mode` applies to every call until changed:
 * "throw" is an outage (a StoreError), "bug" a store that throws something else.
 */
export class FaultyStore implements Store {
  /** The store that answers when `mode` is "ok" (a new MemoryStore unless given). */
  readonly inner: Store;
  mode: "ok" | "throw" | "bug" | "hang" | "slow" = "ok";
  /** Calls whose signal was aborted by the engine. */
  aborted = 0;

  constructor(inner: Store = new MemoryStore()) {
    this.inner = inner;
  }

  #wrap<T>(call: StoreCall, run: () => Awaitable<T>): Awaitable<T> {
    switch (this.mode) {
      case "ok":
        return run();
      case "throw":
        throw new StoreError("connection refused");
      case "bug":
        throw new TypeError("store bug: cannot read properties of undefined");
      case "hang":
        call.signal.addEventListener("abort", () => this.aborted++);
        return new Promise<T>(() => {});
      case "slow":
        return new Promise<T>((resolve) => setTimeout(() => resolve(run()), 5));
    }
  }

  charge: Store["charge"] = (lines, amount, call) => this.#wrap(call, () => this.inner.charge(lines, amount, call));
  reserve: Store["reserve"] = (lines, amount, hold, call) =>
    this.#wrap(call, () => this.inner.reserve(lines, amount, hold, call));
  commit: Store["commit"] = (id, lines, actual, call) =>
    this.#wrap(call, () => this.inner.commit(id, lines, actual, call));
  release: Store["release"] = (id, lines, call) => this.#wrap(call, () => this.inner.release(id, lines, call));
  read: Store["read"] = (line, call) => this.#wrap(call, () => this.inner.read(line, call));
  scan: Store["scan"] = (query, call) => this.#wrap(call, () => this.inner.scan(query, call));
  clear: Store["clear"] = (ledger, call) => this.#wrap(call, () => this.inner.clear(ledger, call));
  clearAll: Store["clearAll"] = (call) => this.#wrap(call, () => this.inner.clearAll(call));
}
