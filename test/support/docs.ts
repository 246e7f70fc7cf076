/**
 * The project's documentation as the docs tests read it: README.md and every Markdown page under
 * docs/, with paths relative to the repository root.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = fileURLToPath(new URL("../..", import.meta.url));

/** One Markdown page: its path from the root, and its text. */
export interface Page {
  readonly path: string;
  readonly text: string;
}

function markdownUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownUnder(path);
    return entry.name.endsWith(".md") ? [path] : [];
  });
}

/** README.md, then docs/**\/*.md in path order. */
export function pages(): Page[] {
  const files = [join(root, "README.md"), ...markdownUnder(join(root, "docs")).sort()];
  return files.map((file) => ({ path: relative(root, file), text: readFileSync(file, "utf8") }));
}

/** The page at `path` (from the root). */
export function page(path: string): Page {
  return { path, text: readFileSync(join(root, path), "utf8") };
}
