/** Redis keys without a server: the escape that makes every ledger its own Cluster slot. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeKeyPart } from "../../../src/stores/redis/index.js";

/** Reverses escapeKeyPart, to show that no two strings escape alike. */
function unescapeKeyPart(text: string): string {
  return text.replace(/%([0-9A-F]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

describe("escapeKeyPart", () => {
  it("leaves no brace and loses nothing, whatever the string (lone surrogates included)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        const escaped = escapeKeyPart(text);
        expect(escaped).not.toMatch(/[{}]/);
        expect(unescapeKeyPart(escaped)).toBe(text);
        // Keys travel as UTF-8, where lone surrogates would all become U+FFFD: none may be left.
        expect(Buffer.from(escaped, "utf8").toString("utf8")).toBe(escaped);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps apart the strings that a careless escape would merge", () => {
    const pairs = [
      ["a{b}", "a%007Bb%007D"],
      ["\uD800", "\uFFFD"],
      ["%", "%0025"],
      ["}{", "%007D%007B"],
    ];
    for (const [a, b] of pairs) expect(escapeKeyPart(a as string)).not.toBe(escapeKeyPart(b as string));
  });
});
