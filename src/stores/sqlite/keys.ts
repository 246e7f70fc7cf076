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
  if ((key as unknown as { isWellFormed(): boolean }).isWellFormed()) return key;
  const bytes = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    bytes[2 * i] = unit >> 8;
    bytes[2 * i + 1] = unit & 0xff;
  }
  return bytes;
}
