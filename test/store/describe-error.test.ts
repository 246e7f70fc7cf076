import { describeError } from "budgetgate/store";
import { describe, expect, it } from "vitest";

describe("describeError", () => {
  it("gives a driver error's message with its string code, and renders anything else", () => {
    expect(describeError(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }))).toBe(
      "database is locked (SQLITE_BUSY)",
    );
    expect(describeError(Object.assign(new Error("no code"), { code: 42 }))).toBe("no code");
    expect(describeError(new Error("plain"))).toBe("plain");
    expect(describeError("a string")).toBe("a string");
    expect(describeError(undefined)).toBe("undefined");
  });
});
