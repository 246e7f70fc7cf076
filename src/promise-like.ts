/**
 * @internal True for a value `await` would wait on: one with a `then` method. What a store or a
 * guarded function returns is used as it is when it is not, without a promise and a tick.
 * @example isPromiseLike(Promise.resolve(1)); // true; isPromiseLike(1); // false
 */
export function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
