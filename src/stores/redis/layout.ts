/**
 * The version of what RedisStore keeps, and the check that a prefix holds that version. Named
 * layout.ts rather than schema.ts (the SQL stores' name): Redis has no schema, only the names of
 * keys (keys.ts) and the encoding of their values (the Lua, scripts.ts).
 *
 * The layout changed twice before keys carried a version, so the first versioned layout was 3;
 * layout 4 (several limits per ledger: a log and one running total per window, in one state value)
 * replaced it. The version is part of every key (`prefix` `v4:` `{tag}…`), so processes of two layouts never read each other's keys,
 * and a marker key `<prefix>layout` names the layout of the prefix: the first store to use a prefix
 * writes it, and a store that finds another layout there refuses to run rather than keep budgets
 * apart from the processes that wrote it.
 */
import { ConfigurationError } from "budgetgate";
import { show } from "budgetgate/store";

/**
 * Version of the keys and values RedisStore writes; part of every key and of the prefix's marker.
 * @example new RedisStore(redis).prefix + `v${LAYOUT_VERSION}:` // "budgetgate:v4:", where its keys start
 */
export const LAYOUT_VERSION = 4;

/**
 * The error for a prefix whose marker key names another layout than {@link LAYOUT_VERSION}.
 * @example throw layoutMismatch("budgetgate:", "budgetgate:layout", "2");
 */
export function layoutMismatch(prefix: string, marker: string, found: unknown): ConfigurationError {
  return new ConfigurationError(
    `RedisStore: the keys under prefix ${show(prefix)} are budgetgate key layout ${show(found)} (marker key ${show(marker)}); this version of budgetgate reads and writes layout ${LAYOUT_VERSION}. Stop the processes of the other version and delete their keys and the marker, or give this version a prefix of its own (see "Limits" in docs/stores/redis.md)`,
  );
}
