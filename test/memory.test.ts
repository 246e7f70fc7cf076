import { MemoryStore } from "../src/index.js";
import { describeStoreConformance } from "./support/conformance.js";

describeStoreConformance("MemoryStore", { create: () => new MemoryStore() });
