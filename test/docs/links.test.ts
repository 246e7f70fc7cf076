/**
 * Every relative link in README.md and docs/ leads somewhere: the file exists and, for a link with
 * a #fragment, the target page has a heading with that anchor (GitHub's rule: lower case,
 * punctuation dropped, spaces to hyphens, repeats numbered -1, -2, …).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { pages, root } from "../support/docs.js";

/** The text with fenced code blocks and inline code taken out: links there are not links. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** The anchors GitHub gives the headings of a Markdown text. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of text.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = (heading as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

interface Link {
  readonly from: string;
  readonly target: string;
}

function relativeLinks(): Link[] {
  return pages().flatMap(({ path, text }) =>
    [...prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
      .map((m) => m[1] as string)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map((target) => ({ from: path, target })),
  );
}

/** Why a link is broken, or null when it is not. */
function brokenBecause({ from, target }: Link): string | null {
  const [file = "", fragment] = target.split("#", 2);
  const path = file === "" ? from : normalize(join(dirname(from), decodeURI(file)));
  if (!existsSync(join(root, path))) return `${path} does not exist`;
  if (fragment === undefined || fragment === "") return null;
  if (!path.endsWith(".md")) return `${path} is not a Markdown page, so it has no #${fragment}`;
  const known = anchors(readFileSync(join(root, path), "utf8"));
  return known.has(fragment) ? null : `${path} has no heading with anchor #${fragment}`;
}

describe("documentation links", () => {
  const links = relativeLinks();

  it("finds the links to check", () => {
    expect(links.length).toBeGreaterThanOrEqual(20);
  });

  it("gives headings GitHub's anchors", () => {
    const text = "# Pricing: `tokenCost(usage, prices)`\n## 8. Holds: expiry and late commits\n## Tests\n## Tests\n";
    expect([...anchors(text)]).toEqual([
      "pricing-tokencostusage-prices",
      "8-holds-expiry-and-late-commits",
      "tests",
      "tests-1",
    ]);
  });

  it("every relative link points to a file and heading that exist", () => {
    const broken = links.flatMap((link) => {
      const why = brokenBecause(link);
      return why === null ? [] : [`${link.from}: (${link.target}) — ${why}`];
    });
    expect(broken).toEqual([]);
  });
});
