/** SqliteStore against the memory store: the shared differential property test. */
import { SqliteStore } from "budgetgate/sqlite";
import { afterAll } from "vitest";
import { describeDifferential } from "../../support/differential.js";

const store = new SqliteStore(":memory:");
afterAll(() => store.close());

describeDifferential("SqliteStore (:memory:)", { store: () => store, numRuns: 150, maxOps: 80 });
