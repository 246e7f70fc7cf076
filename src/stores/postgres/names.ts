import { ConfigurationError } from "budgetgate";
import { show } from "budgetgate/store";

/** Where the store's tables and functions live. */
export interface PostgresNames {
  /** Prefix of every table and function, such as `budgetgate`. */
  readonly prefix: string;
  /** Schema holding them, or null for the connection's `search_path`. */
  readonly schema: string | null;
}

/** Default prefix: tables `budgetgate_ledgers`, `budgetgate_spends`, …; functions `budgetgate_decide`, …. */
export const DEFAULT_PREFIX = "budgetgate";

// Lower-case, unquoted identifiers read the same in psql as in the docs; 40 characters leave room
// for the longest suffix ("_hold_lines_expiry") within PostgreSQL's 63-byte identifier limit.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * Validates the naming options of a PostgresStore.
 *
 * @throws {ConfigurationError} if the prefix or schema is not a lower-case identifier of at most 40
 * characters (letters, digits, underscores; not starting with a digit).
 * @example
 * postgresNames({ prefix: "acme_budget" }); // { prefix: "acme_budget", schema: null }
 */
export function postgresNames(options: { prefix?: string | undefined; schema?: string | undefined }): PostgresNames {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== "string" || !IDENTIFIER.test(prefix)) {
    throw new ConfigurationError(
      `Invalid PostgresStore prefix ${show(prefix)}: expected a lower-case SQL identifier of 1 to 40 characters ([a-z_][a-z0-9_]*)`,
    );
  }
  const schema = options.schema ?? null;
  if (schema !== null && (typeof schema !== "string" || !IDENTIFIER.test(schema))) {
    throw new ConfigurationError(
      `Invalid PostgresStore schema ${show(schema)}: expected a lower-case SQL identifier of 1 to 40 characters ([a-z_][a-z0-9_]*)`,
    );
  }
  return { prefix, schema };
}

/** `schema.prefix_suffix`, or `prefix_suffix` without a schema. Safe to splice: validated above. */
export function qualified(names: PostgresNames, suffix: string): string {
  const name = `${names.prefix}_${suffix}`;
  return names.schema === null ? name : `${names.schema}.${name}`;
}
