/**
 * What a user reads when a store's driver is missing or misused: the package to install, on one
 * line, and nothing that could leak a connection string.
 */
import { ConfigurationError } from "budgetgate";
import { PostgresStore } from "budgetgate/postgres";
import { SqliteStore } from "budgetgate/sqlite";
import { describe, expect, it } from "vitest";

const attempt = (make: () => unknown): Error => {
  try {
    make();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
};

describe("PostgresStore given no client", () => {
  it("names pg and postgres for a connection string, without echoing it", () => {
    const url = "postgres://admin:s3cret@db.internal:5432/app";
    const error = attempt(() => new PostgresStore(url as never));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/^PostgresStore takes a client, not a connection string: run `npm install pg`/);
    expect(error.message).toContain("`npm install postgres`");
    expect(error.message).not.toContain("s3cret");
  });

  it("names pg and postgres for anything else that is not a client", () => {
    const error = attempt(() => new PostgresStore({ host: "localhost" } as never));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(
      /expected a pg Pool, a postgres\.js sql, or an object with acquire\(\); run `npm install pg`/,
    );
  });
});

describe("SqliteStore with a driver this runtime lacks", () => {
  it("says where the driver comes from, on one line without a require stack", () => {
    const error = attempt(() => new SqliteStore(":memory:", { driver: "bun:sqlite" }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(
      /^SqliteStore driver "bun:sqlite" could not be loaded \(Cannot find module 'bun:sqlite'\): it is built into Bun, or choose another driver$/,
    );
    expect(error.message).not.toContain("\n");
  });

  it("refuses a driver it does not know, naming the ones it does", () => {
    const error = attempt(() => new SqliteStore(":memory:", { driver: "sqlite3" as never }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe('Invalid driver "sqlite3": expected "better-sqlite3", "node:sqlite", "bun:sqlite"');
  });
});
