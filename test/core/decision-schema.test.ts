import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Budget, DECISION_SCHEMA_VERSION, Engine, Ledger } from "../../src/index.js";
import { decisionSchema, decisionSchemaPath, validateDecision } from "../support/decision-schema.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
  files: string[];
  exports: Record<string, unknown>;
};

describe("the decision schema the package ships", () => {
  it("is the repository's schema/decision.schema.json, exported as budgetgate/decision.schema.json", () => {
    expect(decisionSchemaPath).toBe(`${root}schema/decision.schema.json`);
    expect(pkg.exports["./decision.schema.json"]).toBe("./schema/decision.schema.json");
    expect(pkg.files).toContain("schema");
  });

  it("has the schema_version const the library writes", () => {
    expect(decisionSchema.properties.schema_version.const).toBe(DECISION_SCHEMA_VERSION);
  });

  it("accepts the record of a real decision", async () => {
    const decision = await new Engine().check(
      new Ledger("openai", "gpt-4o", "user:1"),
      "0.03",
      new Budget({ maxSpend: 1 }),
    );
    expect(validateDecision(decision.toJSON()), JSON.stringify(validateDecision.errors)).toBe(true);
  });

  const record = {
    schema_version: DECISION_SCHEMA_VERSION,
    status: "BLOCK",
    ledger: "openai:gpt-4o@user:1",
    reason: "BUDGET_EXCEEDED",
    message: "Budget exceeded: 0.98 + 0.03 > 1.00",
    spent_in_window: "0.98",
    requested: "0.03",
    remaining: "0.02",
  };

  it.each<[string, Record<string, unknown>]>([
    ["another schema_version", { schema_version: "0.2.1" }],
    ["a lower-case status", { status: "block" }],
    ["an unknown reason", { reason: "RATE_LIMITED" }],
    ["a ledger without a principal", { ledger: "openai:gpt-4o" }],
    ["a ledger without a resource", { ledger: "openai@user:1" }],
    ["an amount as a JSON number", { requested: 0.03 }],
    ["an amount in exponent notation", { spent_in_window: "1e-2" }],
    ["an amount with a trailing point", { remaining: "1." }],
    ["a numeric message", { message: 42 }],
    ["a field it does not define", { currency: "USD" }],
  ])("refuses a record with %s", (_, change) => {
    expect(validateDecision(record)).toBe(true);
    expect(validateDecision({ ...record, ...change })).toBe(false);
  });

  it.each(Object.keys(record))("refuses a record without %s", (field) => {
    const { [field as keyof typeof record]: _, ...rest } = record;
    expect(validateDecision(rest)).toBe(false);
  });

  it("accepts null reason and message (a plain allow) and negative amounts", () => {
    expect(validateDecision({ ...record, status: "ALLOW", reason: null, message: null, requested: "-0.5" })).toBe(true);
  });
});
