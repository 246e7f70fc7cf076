import type { Ledger } from "budgetgate";
import { ConfigurationError } from "budgetgate";
import { describeError, show } from "budgetgate/store";
import { LAYOUT_VERSION } from "./layout.js";

/**
 * `%`, the hash-tag braces, and UTF-16 halves that are not part of a pair. Escaping `%` keeps the
 * escape itself unambiguous; escaping braces keeps a ledger from choosing its own Cluster slot;
 * escaping lone surrogates matters because clients send keys as UTF-8, where every lone surrogate
 * becomes the same U+FFFD and two distinct ledgers would share keys.
 */
const SPECIAL = /[%{}]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Escapes a string for use inside a key: the result holds no `{` or `}`, and distinct inputs give
 * distinct results (every escape is `%` and four hex digits, and `%` itself is escaped).
 *
 * @example escapeKeyPart("a{b}%") // "a%007Bb%007D%0025"
 */
export function escapeKeyPart(text: string): string {
  return text.replace(SPECIAL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
}

/** The Redis keys of one ledger. All share one hash tag, hence one Cluster slot. */
export interface LedgerKeys {
  /** The hash tag (without braces): equal tags mean one slot. */
  readonly tag: string;
  /**
   * The state key (kind `t`): totals, counters and times in one string. The ledger's other keys,
   * which the script derives from it, differ only in the kind letter: `l` its log of spends, `x`
   * its holds (see scripts.ts).
   */
  readonly state: string;
}

/**
 * Maps ledgers to keys. Every key starts with the root, `prefix` then the layout version (`v4:`),
 * so that stores of two layouts never share a key. A ledger's keys are `root{tag}:kind` when the
 * tag is the ledger itself (the default: one slot per ledger), and `root{tag}@ledger:kind` when a
 * `hashTag` function groups ledgers; `kind`, one letter (`t`, `l`, `x`), comes last so that the script derives a
 * ledger's other keys from its state key by replacing it. A hold's key is `root{tag}:h:id`, a
 * batch receipt's `root{tag}:b:batch`; the layout marker, `prefix` then `layout`, is the only key
 * without a brace. The prefix has no braces and the tag, ledger and id are
 * escaped, so the first `}` ends the tag; after it, ledger keys of the default layout hold exactly
 * two characters, holds and receipts begin `:h:` and `:b:`, grouped ledger keys begin `@` and end
 * `:kind`. Reading a key back is therefore unambiguous: the layout is injective.
 */
export class KeySpace {
  readonly prefix: string;
  /** The start of every key but the marker: the prefix and the layout version. */
  readonly #root: string;
  readonly #hashTag: ((ledger: Ledger) => string) | undefined;
  readonly #cache = new Map<string, LedgerKeys>();

  /**
   * @throws {ConfigurationError} if `prefix` holds a brace (it would capture the hash tag).
   */
  constructor(prefix: string, hashTag: ((ledger: Ledger) => string) | undefined) {
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw new ConfigurationError(
        `Invalid RedisStore prefix ${show(prefix)}: expected a string without "{" or "}", which would change the Cluster hash tag`,
      );
    }
    if (hashTag !== undefined && typeof hashTag !== "function") {
      throw new ConfigurationError(
        `Invalid RedisStore hashTag ${show(hashTag)}: expected a function (ledger) => string`,
      );
    }
    this.prefix = prefix;
    this.#root = `${prefix}v${LAYOUT_VERSION}:`;
    this.#hashTag = hashTag;
  }

  /** The keys of `ledger`, whose string form is `key`. */
  ledger(ledger: Ledger, key: string): LedgerKeys {
    let keys = this.#cache.get(key);
    if (keys !== undefined) return keys;
    const escaped = escapeKeyPart(key);
    let tag = escaped;
    let suffix = "";
    if (this.#hashTag !== undefined) {
      let chosen: unknown;
      try {
        chosen = this.#hashTag(ledger);
      } catch (error) {
        throw new ConfigurationError(`RedisStore hashTag threw for ledger ${key}: ${describeError(error)}`, {
          cause: error,
        });
      }
      if (typeof chosen !== "string" || chosen.length === 0) {
        throw new ConfigurationError(
          `RedisStore hashTag returned ${show(chosen)} for ledger ${key}: expected a non-empty string (an empty tag would scatter the ledger's keys over several slots)`,
        );
      }
      tag = escapeKeyPart(chosen);
      suffix = `@${escaped}`;
    }
    keys = { tag, state: `${this.#root}{${tag}}${suffix}:t` };
    // A bounded cache: a service that sees millions of ledgers must not keep all their names.
    if (this.#cache.size >= 10_000) this.#cache.clear();
    this.#cache.set(key, keys);
    return keys;
  }

  /** The key of hold `id`, in the slot of the first ledger it holds on. */
  hold(tag: string, id: string): string {
    return `${this.#root}{${tag}}:h:${escapeKeyPart(id)}`;
  }

  /** The key of a batch's receipt, in the slot of its operations. */
  receipt(tag: string, batch: string): string {
    return `${this.#root}{${tag}}:b:${batch}`;
  }

  /** The key naming the layout of the prefix's keys (see layout.ts). */
  get marker(): string {
    return `${this.prefix}layout`;
  }

  /** A SCAN pattern matching every key of this prefix and layout (glob characters escaped). */
  get pattern(): string {
    return `${glob(this.#root)}{*`;
  }

  /**
   * A SCAN pattern matching the state keys of this prefix and layout whose ledger key starts with
   * `ledgerPrefix`, in this store's key form (glob characters of the prefix escaped). It may match
   * a few keys more (a grouped ledger's tag is any text): {@link KeySpace.parseState} decides.
   */
  statePattern(ledgerPrefix: string): string {
    // A trailing high surrogate is escaped alone here but as half of a pair in a key: leave it to
    // the check of each key.
    const start = glob(escapeKeyPart(ledgerPrefix.replace(/[\uD800-\uDBFF]$/, "")));
    return this.#hashTag === undefined ? `${glob(this.#root)}{${start}*}:t` : `${glob(this.#root)}{*}@${start}*:t`;
  }

  /**
   * The hash tag and ledger key of a state key of this prefix and layout (either key form), or
   * undefined for any other key.
   */
  parseState(key: string): { tag: string; ledger: string } | undefined {
    const root = this.#root;
    if (!key.startsWith(`${root}{`) || !key.endsWith(":t")) return undefined;
    const close = key.indexOf("}", root.length + 1);
    if (close === -1) return undefined;
    const tag = key.slice(root.length + 1, close);
    const rest = key.slice(close + 1, -2);
    if (rest === "") return tag === "" ? undefined : { tag, ledger: unescapeKeyPart(tag) };
    if (rest.startsWith("@") && rest.length > 1) {
      return { tag, ledger: unescapeKeyPart(rest.slice(1)) };
    }
    return undefined;
  }
}

/** A SCAN pattern's escape of `text`: glob characters taken literally. */
function glob(text: string): string {
  return text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}

/** The inverse of {@link escapeKeyPart}. */
function unescapeKeyPart(text: string): string {
  return text.replace(/%([0-9A-F]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
