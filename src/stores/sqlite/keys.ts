/** A ledger key as the ledgers table holds it. */
export type StoredKey = string | Uint8Array;

/**
 * The ledgers table's form of a ledger key. A well-formed string is stored as text. A string with
 * a lone surrogate has no UTF-8 form, and drivers differ in what they send instead: better-sqlite3
 * 12 sends WTF-8, better-sqlite3 13 and the built-ins replace it by U+FFFD, so "\ud800" and
 * "\ufffd" would share one ledger. Such a key is stored as a BLOB of its UTF-16 code units, which
 * SQLite never finds equal to any text.
 */
export function storedKey(key: string): StoredKey {
  return isWellFormed(key) ? key : utf16(key);
}

/** The ledger key a stored key holds. */
export function keyOf(stored: StoredKey): string {
  if (typeof stored === "string") return stored;
  let key = "";
  for (let i = 0; i + 1 < stored.length; i += 2)
    key += String.fromCharCode(((stored[i] as number) << 8) | (stored[i + 1] as number));
  return key;
}

/** Stored keys from `from` (inclusive) to `below` (exclusive; null: no end), as bytes. */
export interface KeyRange {
  readonly from: Uint8Array;
  readonly below: Uint8Array | null;
}

/**
 * The ranges of stored keys that hold exactly the keys starting with `prefix`, after `cursor` (a
 * key, or null), in the index's order: text keys (memcmp of their UTF-8), then blob keys (see
 * {@link storedKey}). Bounds are bytes, so that no character of a key — `%`, `_`, a backslash,
 * U+10FFFF — is special: the keys starting with bytes `p` are those from `p` to `p` with its last
 * byte raised by one. Null for a part no key can be in.
 */
export function scanRanges(prefix: string, cursor: string | null): { text: KeyRange | null; blob: KeyRange | null } {
  let text = textRange(prefix);
  let blob: KeyRange | null = { from: utf16(prefix), below: successor(utf16(prefix)) };
  if (cursor !== null) {
    if (isWellFormed(cursor)) {
      if (text !== null) text = after(text, UTF8.encode(cursor));
    } else {
      text = null;
      blob = after(blob, utf16(cursor));
    }
  }
  return { text, blob };
}

/** The keys of `range` after `key`: the first byte string above `key` is `key` followed by 0. */
function after(range: KeyRange, key: Uint8Array): KeyRange | null {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  const from = compare(next, range.from) > 0 ? next : range.from;
  return range.below !== null && compare(from, range.below) >= 0 ? null : { from, below: range.below };
}

/**
 * A text key is well-formed, so it starts with `prefix` if its UTF-8 starts with the prefix's; a
 * prefix that ends in a high surrogate is matched by the keys whose next character pairs with it
 * (1,024 consecutive code points, whose UTF-8 forms are consecutive); any other lone surrogate
 * matches no text key.
 */
function textRange(prefix: string): KeyRange | null {
  if (isWellFormed(prefix)) {
    const from = UTF8.encode(prefix);
    return { from, below: from.length === 0 ? null : successor(from) };
  }
  const head = prefix.slice(0, -1);
  const last = prefix.charCodeAt(prefix.length - 1);
  if (!isWellFormed(head) || last < 0xd800 || last > 0xdbff) return null;
  const first = 0x10000 + ((last - 0xd800) << 10);
  const below = successor(UTF8.encode(head + String.fromCodePoint(first + 0x3ff))) as Uint8Array;
  return { from: UTF8.encode(head + String.fromCodePoint(first)), below };
}

/** The least byte string above every string that starts with `bytes`, or null if there is none. */
function successor(bytes: Uint8Array): Uint8Array | null {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return null;
  const next = bytes.slice(0, end);
  next[end - 1] = (next[end - 1] as number) + 1;
  return next;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

function utf16(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    bytes[2 * i] = unit >> 8;
    bytes[2 * i + 1] = unit & 0xff;
  }
  return bytes;
}

function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

const UTF8 = new TextEncoder();
