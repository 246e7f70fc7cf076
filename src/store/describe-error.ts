/**
 * The message of an error a store's driver threw, with its `code` when it has a string one
 * (`SQLITE_BUSY`, `ECONNREFUSED`, a SQLSTATE): what a store puts in the message of the
 * StoreError, StateError or ConfigurationError it throws in its place. Anything not an Error is
 * rendered with String(). Exported for store authors (from `budgetgate/store`), so that every
 * store reports a driver's failure the same way.
 *
 * @example
 * throw new StoreError(`MyStore charge failed: ${describeError(error)}`, { cause: error });
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? `${error.message} (${code})` : error.message;
}
