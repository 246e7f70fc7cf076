/** PostgresStore against the memory store: the shared differential property test. */
import { describe } from "vitest";
import { describeDifferential } from "../../support/differential.js";
import { findService } from "../../support/services.js";
import { suiteStore } from "./support/setup.js";

const service = await findService("DATABASE_URL");

describe.skipIf(!service.ok)("PostgresStore", () => {
  const suite = suiteStore(service.url, "model");
  describeDifferential("PostgresStore (pg)", { store: () => suite.store, numRuns: 25 });
});
