/**
 * Every ```ts block of the README and of the pages under docs/ is a program: each is written out,
 * type-checked with the project's strict settings, and run. An example that no longer compiles or
 * throws fails the build. Blocks fenced as ```typescript are fragments that need credentials or
 * surrounding code (SDK recipes); their runnable, offline counterparts are the programs in
 * examples/, which CI runs.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pages, root } from "../support/docs.js";

const blocks = pages().flatMap(({ path, text }) =>
  [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => ({ name: `${path} #${i + 1}`, code: m[1] as string })),
);
const dir = join(root, ".tmp", "readme");
const fileOf = (i: number) => join(dir, `example-${i + 1}.ts`);

describe("documentation examples", () => {
  it("has examples to check, in the README and in docs/", () => {
    expect(blocks.filter((b) => b.name.startsWith("README.md")).length).toBeGreaterThanOrEqual(6);
    expect(blocks.filter((b) => b.name.startsWith("docs/")).length).toBeGreaterThanOrEqual(3);
  });

  it("type-check under the project's strict settings", () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    blocks.forEach(({ name, code }, i) => {
      writeFileSync(fileOf(i), `// ${name}\n${code}\nexport {};\n`);
    });
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "../../tsconfig.json", include: ["./*.ts"], compilerOptions: { noEmit: true } }),
    );
    execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], {
      stdio: "pipe",
    });
  }, 60_000);

  it.each(blocks.map((block, i) => [block.name, i] as const))("%s runs", (_name, i) => {
    execFileSync(process.execPath, ["--import", "tsx", fileOf(i)], { cwd: root, stdio: "pipe", timeout: 30_000 });
  });
});
