/**
 * Renders a user's value for an error message: strings quoted, other types named. Exported for
 * store and integration authors (from `budgetgate/store`), so that every message in the library
 * names values the same way.
 *
 * @example
 * throw new ConfigurationError(`Invalid prefix ${show(prefix)}: expected a string`);
 */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (typeof value === "function") return "a function";
  try {
    return `${Object.prototype.toString.call(value)} ${JSON.stringify(value)}`;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
