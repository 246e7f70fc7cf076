/**
 * The decision schema the package ships, loaded the way a user of the package loads it: through the
 * `budgetgate/decision.schema.json` entry of the package's own exports map (Node resolves a package's
 * own name from inside it), so tests check the file users get, and nothing outside the repository.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2020 from "ajv/dist/2020.js";

/** The path `budgetgate/decision.schema.json` resolves to. */
export const decisionSchemaPath = createRequire(import.meta.url).resolve("budgetgate/decision.schema.json");

/** The parsed schema. */
export const decisionSchema = JSON.parse(readFileSync(decisionSchemaPath, "utf8")) as {
  readonly $id: string;
  readonly properties: { readonly schema_version: { readonly const: string } };
};

/** A strict JSON Schema 2020-12 validator of decision records; `.errors` explains a refusal. */
export const validateDecision = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: true }).compile(
  decisionSchema,
);
