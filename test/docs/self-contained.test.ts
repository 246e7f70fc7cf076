/**
 * A fresh clone must pass on its own: no source, test, script, benchmark, example or CI file may
 * point at a path outside the repository (as a test once read the reference schema from a sibling
 * folder of the checkout).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const folders = ["src", "test", "scripts", "bench", "examples", ".ci"];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

const files = folders.flatMap((folder) => filesUnder(join(root, folder)));
/**
 * Relative paths a file resolves from where it lives: module specifiers (`from`, `import(`), URLs
 * against `import.meta.url`, and shell paths from the script's own folder.
 */
const relativePath =
  /(?:from\s+|import\(\s*|new URL\(\s*)["'`](\.\.?\/[^"'`]*)["'`]|["'`](\.\.?\/[^"'`]*)["'`],\s*import\.meta\.url|\$\(dirname "\$\{?(?:0|BASH_SOURCE\[0\])\}?"\)\/([^"\s)]*)/g;
const paths = files.flatMap((file) =>
  [...readFileSync(file, "utf8").matchAll(relativePath)].map((m) => ({ file, path: (m[1] ?? m[2] ?? m[3]) as string })),
);
/** The machine's workspace folder, spelled so that this file does not match itself. */
const workspace = ["", "work", ""].join("/");

describe("the repository is self-contained", () => {
  it("has files and relative paths to check", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(paths.length).toBeGreaterThan(50);
  });

  it("names no relative path that climbs out of the repository", () => {
    const outside = paths
      .filter(({ file, path }) => relative(root, resolve(dirname(file), path)).startsWith(".."))
      .map(({ file, path }) => `${relative(root, file)}: ${path}`);
    expect(outside).toEqual([]);
  });

  it(`names nothing under ${workspace}`, () => {
    const hits = files.filter((file) => readFileSync(file, "utf8").includes(workspace)).map((f) => relative(root, f));
    expect(hits).toEqual([]);
  });
});
