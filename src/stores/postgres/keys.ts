// PostgreSQL text holds neither NUL nor lone UTF-16 surrogates (the driver would turn one into
// U+FFFD, merging distinct ledgers), yet a ledger key may contain both. Escaping them — and the
// escape character itself — keeps the mapping injective while ordinary keys are stored as they are.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be escaped
const NEEDS_ESCAPE = /[\\\u0000\uD800-\uDFFF]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be escaped
const ESCAPED = /[\\\u0000\uD800-\uDFFF]/gu;

/**
 * The text a ledger key is stored under: the key itself unless it contains `\`, NUL or a lone
 * surrogate, which become `\\`, `\0` and `\uXXXX`. Distinct keys always give distinct texts.
 *
 * @example
 * storedKey("openai:gpt-4o@user:1"); // "openai:gpt-4o@user:1"
 * storedKey("a:b@x\u0000");          // "a:b@x\\0"
 */
export function storedKey(key: string): string {
  if (!NEEDS_ESCAPE.test(key)) return key;
  return key.replace(ESCAPED, (c) => {
    if (c === "\\") return "\\\\";
    if (c === "\u0000") return "\\0";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

const STORED_ESCAPE = /\\(\\|0|u[0-9a-f]{4})/g;

/**
 * The ledger key a stored text stands for: the inverse of {@link storedKey}.
 *
 * @example
 * keyOfStored("a:b@x\\0"); // "a:b@x\u0000"
 */
export function keyOfStored(stored: string): string {
  if (!stored.includes("\\")) return stored;
  return stored.replace(STORED_ESCAPE, (_, code: string) => {
    if (code === "\\") return "\\";
    if (code === "0") return "\u0000";
    return String.fromCharCode(Number.parseInt(code.slice(1), 16));
  });
}

/** The stored keys of the ledgers whose keys start with a prefix: `[from, to)`, `to` null for no end. */
export interface StoredRange {
  /** First stored key of the range (the stored prefix). */
  readonly from: string;
  /** First stored key past the range, or null when it runs to the end. */
  readonly to: string | null;
}

/**
 * The bytewise (`COLLATE "C"`) range of stored keys that holds every key starting with `prefix`,
 * exactly: no LIKE, so `%`, `_` and `\` are ordinary characters. Stored keys are compared as UTF-8
 * bytes, whose order is code point order, so the range ends at the stored prefix with its last code
 * point raised by one. A prefix ending in a high surrogate, which a key may pair with the next
 * character (stored as it is, not escaped), is searched without it: the caller filters by the key.
 *
 * @example
 * storedRange("ns:"); // { from: "ns:", to: "ns;" }
 */
export function storedRange(prefix: string): StoredRange {
  const last = prefix.charCodeAt(prefix.length - 1);
  const cut = last >= 0xd800 && last <= 0xdbff ? prefix.slice(0, -1) : prefix;
  const from = storedKey(cut);
  const points = Array.from(from);
  while (points.length > 0) {
    const point = (points.pop() as string).codePointAt(0) as number;
    if (point < 0x10ffff) {
      // Stored keys hold no surrogate code points: the successor of U+D7FF is U+E000.
      const next = point === 0xd7ff ? 0xe000 : point + 1;
      return { from, to: points.join("") + String.fromCodePoint(next) };
    }
  }
  return { from, to: null };
}
