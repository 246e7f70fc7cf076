/**
 * Builds the API reference (HTML, into api/, which git ignores) from the TSDoc of every entry point
 * the package publishes. The entry points are read from tsup.config.ts, so a new or moved entry is
 * changed in one place. Any TypeDoc warning fails the build: a `{@link}` that does not resolve, an
 * export without documentation, or a type the reference would mention but not include.
 */
import { Application, LogLevel } from "typedoc";
import config from "../tsup.config.js";

function entryPoints(): string[] {
  const options = Array.isArray(config) ? config[0] : config;
  const entry = typeof options === "object" && options !== null ? options.entry : undefined;
  if (entry === undefined || Array.isArray(entry) || typeof entry !== "object") {
    throw new Error("tsup.config.ts: expected `entry` to be an object of name → source file");
  }
  return Object.values(entry);
}

const app = await Application.bootstrapWithPlugins({
  entryPoints: entryPoints(),
  tsconfig: "tsconfig.json",
  out: "api",
  name: "budgetgate",
  readme: "none",
  // A clone's origin is often a path, not a host: link nothing rather than warn.
  disableSources: true,
  excludePrivate: true,
  excludeInternal: true,
  // Helper types the public signatures are written with; documented where they are used.
  intentionallyNotExported: ["CallArgs", "Outcome", "BrandedClass"],
  treatWarningsAsErrors: true,
  validation: {
    notExported: true,
    invalidLink: true,
    rewrittenLink: true,
    notDocumented: true,
    unusedMergeModuleWith: true,
  },
  logLevel: LogLevel.Info,
});

const project = await app.convert();
if (project === undefined) throw new Error("TypeDoc could not convert the project");
app.validate(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  throw new Error(`API reference: ${app.logger.errorCount} errors, ${app.logger.warningCount} warnings (see above)`);
}
await app.generateDocs(project, "api");
console.log("API reference written to api/index.html");
