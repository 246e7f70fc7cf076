/**
 * The README section on PostgresStore shows the schema as plain SQL: it must be exactly what
 * `migrate()` runs (postgresSchema() with the default prefix), tables and functions alike.
 */
import { readFileSync } from "node:fs";
import { postgresSchema } from "budgetgate/postgres";
import { describe, expect, it } from "vitest";

const doc = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

function block(marker: string): string {
  const match = new RegExp(`<!-- ${marker} -->\\n\`\`\`sql\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (match === null) throw new Error(`README.md has no sql block after <!-- ${marker} -->`);
  return match[1] as string;
}

describe("PostgresStore documentation", () => {
  it("shows the schema migrate() creates, verbatim", () => {
    const tables = block("postgres:schema:tables");
    const functions = block("postgres:schema:functions");
    expect(tables + functions).toBe(postgresSchema());
  });
});
