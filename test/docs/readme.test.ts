/**
 * Every ```ts block of the README is a program: each is written out, type-checked with the project's
 * strict settings, and run. A README example that no longer compiles or throws fails the build.
 * Blocks fenced as ```typescript are fragments that need credentials or surrounding code (SDK
 * recipes); their runnable, offline counterparts are the programs in examples/, which CI runs.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const blocks = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map(
  (m) => m[1] as string,
);
const dir = join(root, ".tmp", "readme");

describe("README examples", () => {
  it("has examples to check", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });

  it("type-check under the project's strict settings", () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    blocks.forEach((code, i) => {
      writeFileSync(join(dir, `example-${i + 1}.ts`), `${code}\nexport {};\n`);
    });
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "../../tsconfig.json", include: ["./*.ts"], compilerOptions: { noEmit: true } }),
    );
    execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], {
      stdio: "pipe",
    });
  }, 60_000);

  it.each(blocks.map((code, i) => [i + 1, code] as const))("example %i runs", (i) => {
    const file = join(dir, `example-${i}.ts`);
    execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, stdio: "pipe", timeout: 30_000 });
  });
});
