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
