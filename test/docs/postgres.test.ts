/**
 * The PostgresStore page (docs/stores/postgres.md) shows the schema as plain SQL: it must be exactly
 * what `migrate()` runs (postgresSchema() with the default prefix), tables and functions alike.
 */
import { postgresSchema } from "budgetgate/postgres";
import { describe, expect, it } from "vitest";
import { page } from "../support/docs.js";

const { path, text: doc } = page("docs/stores/postgres.md");

function block(marker: string): string {
  const match = new RegExp(`<!-- ${marker} -->\\n\`\`\`sql\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (match === null) throw new Error(`${path} has no sql block after <!-- ${marker} -->`);
  return match[1] as string;
}

describe("PostgresStore documentation", () => {
  it("shows the schema migrate() creates, verbatim", () => {
    const tables = block("postgres:schema:tables");
    const functions = block("postgres:schema:functions");
    expect(tables + functions).toBe(postgresSchema());
  });
});
