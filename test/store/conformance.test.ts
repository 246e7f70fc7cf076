/**
 * The conformance suite as a third-party store's own tests use it: only published names are
 * imported, the store is the test's own (a wrapper, so the suite sees a class it never met), and
 * scripts/check-package.sh runs this same file against the packed tarball.
 */
import { MemoryStore } from "budgetgate";
import type { Store } from "budgetgate/store";
import { describeStoreConformance } from "budgetgate/store/conformance";

/** A store of its author's own: every call goes to a MemoryStore it keeps. */
class WrappedStore implements Store {
  readonly #inner = new MemoryStore();
  charge: Store["charge"] = (...args) => this.#inner.charge(...args);
  reserve: Store["reserve"] = (...args) => this.#inner.reserve(...args);
  commit: Store["commit"] = (...args) => this.#inner.commit(...args);
  release: Store["release"] = (...args) => this.#inner.release(...args);
  read: Store["read"] = (...args) => this.#inner.read(...args);
  scan: Store["scan"] = (...args) => this.#inner.scan(...args);
  clear: Store["clear"] = (...args) => this.#inner.clear(...args);
  clearAll: Store["clearAll"] = (...args) => this.#inner.clearAll(...args);
}

describeStoreConformance("a third-party store (MemoryStore wrapped)", { create: () => new WrappedStore() });
