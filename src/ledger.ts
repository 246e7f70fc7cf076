import { show } from "budgetgate/store";
import { InvalidLedgerError } from "./errors.js";

/**
 * Names one spend stream: `(namespace, resource, principal)`, such as `openai / gpt-4o / user:123`.
 * Two ledgers share state only if all three fields are equal.
 *
 * The string form `namespace:resource@principal` is unambiguous — the namespace holds neither `:`
 * nor `@`, the resource no `@` — so it is also the key every store derives its state from, and two
 * distinct ledgers never collide: `("a", "b:c", "x")` is `a:b:c@x`, `("a", "b", "c:x")` is `a:b@c:x`.
 *
 * @throws {InvalidLedgerError} if a field is not a non-empty string or holds a separator it may not.
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
    this.#key = `${namespace}:${resource}@${principal}`;
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

function checkField(field: string, value: unknown, forbidden: RegExp | null, named: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidLedgerError(`Invalid ledger ${field} ${show(value)}: expected a non-empty string`);
  }
  if (forbidden?.test(value)) {
    throw new InvalidLedgerError(
      `Invalid ledger ${field} ${show(value)}: it may not contain ${named}, which separate the fields of "namespace:resource@principal"`,
    );
  }
}
