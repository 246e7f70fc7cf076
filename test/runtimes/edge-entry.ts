// The script the Edge runtime (@edge-runtime/vm) evaluates: the checks' promise, left on the global.
import { runPortableChecks } from "./portable.js";

(globalThis as { portableChecks?: unknown }).portableChecks = runPortableChecks();
