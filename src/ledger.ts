import { show } from "budgetgate/store";
import { InvalidLedgerError } from "./errors.js";

/**
 * Longest ledger key, `ledger.toString()`, in UTF-8 bytes. A store keeps the key in an index, and
 * PostgreSQL's btree refuses entries past about 2,700 bytes: 1,024 bytes leave room for
 * PostgresStore's escapes (of `\`, NUL and lone surrogates), which at most double a key. Name
 * anything longer by an id or a digest.
 *
 * @example
 * new Ledger("openai", "gpt-4o", `user:${"x".repeat(2000)}`); // throws InvalidLedgerError
 * MAX_LEDGER_KEY_BYTES; // 1024
 */
export const MAX_LEDGER_KEY_BYTES = 1024;

const LINE_BREAK = /[\n\r\u2028\u2029]/;
const UTF8 = new TextEncoder();

/**
 * Names one spend stream: `(namespace, resource, principal)`, such as `openai / gpt-4o / user:123`.
 * Two ledgers share state only if all three fields are equal.
 *
 * The string form `namespace:resource@principal` is unambiguous — the namespace holds neither `:`
 * nor `@`, the resource no `@` — so it is also the key every store derives its state from, and two
 * distinct ledgers never collide: `("a", "b:c", "x")` is `a:b:c@x`, `("a", "b", "c:x")` is `a:b@c:x`.
 *
 * No field holds a line break (`\n`, `\r`, U+2028, U+2029): a ledger's name stays on one line in
 * logs, and its decision record matches the schema's ledger pattern. The key is at most
 * {@link MAX_LEDGER_KEY_BYTES} bytes of UTF-8, so that every store can index it.
 *
 * @throws {InvalidLedgerError} if a field is not a non-empty string, holds a separator it may not
 * or a line break, or the key is longer than {@link MAX_LEDGER_KEY_BYTES}.
 * @example
 * const ledger = new Ledger("openai", "gpt-4o", "user:123");
 * ledger.toString(); // "openai:gpt-4o@user:123"
 */
export class Ledger {
  /** Provider or domain: `"openai"`, `"anthropic"`, `"infra"`. No `:` or `@`. */
  readonly namespace: string;
  /** Billable resource: `"gpt-4o"`, `"compute"`. No `@`. */
  readonly resource: string;
  /** Scope of enforcement: `"user:123"`, `"team:eng"`, `"global"`. */
  readonly principal: string;
  readonly #key: string;

  constructor(namespace: string, resource: string, principal = "global") {
    checkField("namespace", namespace, /[:@]/, '":" or "@"');
    checkField("resource", resource, /@/, '"@"');
    checkField("principal", principal, null, "");
    this.namespace = namespace;
    this.resource = resource;
    this.principal = principal;
    this.#key = flat(`${namespace}:${resource}@${principal}`);
    checkLength(this.#key);
  }

  /**
   * Parses the string form back into a ledger.
   *
   * @throws {InvalidLedgerError} if the text is not `namespace:resource@principal`.
   * @example
   * Ledger.parse("openai:gpt-4o@user:123").principal; // "user:123"
   */
  static parse(text: string): Ledger {
    const match = typeof text === "string" ? /^([^:@]+):([^@]+)@(.+)$/s.exec(text) : null;
    if (!match) {
      throw new InvalidLedgerError(`Invalid ledger ${show(text)}: expected "namespace:resource@principal"`);
    }
    return new Ledger(match[1] as string, match[2] as string, match[3] as string);
  }

  /**
   * True for a Ledger. A brand check: unlike `instanceof`, no object made from Ledger's prototype
   * passes, and it costs a few ns where `instanceof` costs more (about 10 ns more when a build
   * redefines class names, as tsx does).
   * @example Ledger.isLedger(new Ledger("openai", "gpt-4o")); // true
   */
  static isLedger(value: unknown): value is Ledger {
    return typeof value === "object" && value !== null && #key in value;
  }

  /** `namespace:resource@principal`. */
  toString(): string {
    return this.#key;
  }

  /** The string form, so that a ledger serialises as its name. */
  toJSON(): string {
    return this.#key;
  }

  /** True if all three fields are equal. @example new Ledger("a","b").equals(new Ledger("a","b","global")) // true */
  equals(other: Ledger): boolean {
    return other instanceof Ledger && other.#key === this.#key;
  }
}

/**
 * @internal `text` as one flat, interned string. A string built by concatenation is a tree of its
 * pieces that V8 keeps whole for as long as the string lives, about 50 bytes more than the text,
 * and that every use walks; a property name is stored flat and interned, and `Object.keys` hands
 * that copy back. A ledger's key made so is found in a Map by pointer, not compared letter by
 * letter with the copy the Map holds, and a store that keeps it keeps its text and no more.
 * @example flat(`${"a"}:${"b"}`); // "a:b"
 */
export function flat(text: string): string {
  return Object.keys({ [text]: 0 })[0] as string;
}

function checkField(field: string, value: unknown, forbidden: RegExp | null, named: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidLedgerError(`Invalid ledger ${field} ${show(value)}: expected a non-empty string`);
  }
  const lineBreak = LINE_BREAK.exec(value)?.[0];
  if (lineBreak !== undefined) {
    const code = `U+${lineBreak.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    throw new InvalidLedgerError(
      `Invalid ledger ${field} ${show(value)}: it may not contain a line break (${code}); a ledger's name is one line`,
    );
  }
  if (forbidden?.test(value)) {
    throw new InvalidLedgerError(
      `Invalid ledger ${field} ${show(value)}: it may not contain ${named}, which separate the fields of "namespace:resource@principal"`,
    );
  }
}

function checkLength(key: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short keys need no count.
  if (key.length * 3 <= MAX_LEDGER_KEY_BYTES) return;
  // TextEncoder counts a lone surrogate as the 3 bytes of U+FFFD.
  const bytes = UTF8.encode(key).length;
  if (bytes > MAX_LEDGER_KEY_BYTES) {
    throw new InvalidLedgerError(
      `Invalid ledger ${show(`${key.slice(0, 40)}…`)}: its name is ${bytes} bytes of UTF-8, over the limit of ${MAX_LEDGER_KEY_BYTES} (MAX_LEDGER_KEY_BYTES); name long principals by an id or a digest`,
    );
  }
}
