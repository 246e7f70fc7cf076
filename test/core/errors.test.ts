/**
 * Error classes recognise their errors by brand, so that two copies of the package in one program
 * (where `instanceof` fails) still agree on what an error is.
 */
import { describe, expect, it } from "vitest";
import {
  Budget,
  BudgetExceededError,
  BudgetGateError,
  ConfigurationError,
  Engine,
  InvalidAmountError,
  Ledger,
  StoreError,
  StoreTimeoutError,
} from "../../src/index.js";

describe("BudgetGateError.isInstance", () => {
  it("recognises an error by its class and every class it extends, and nothing else", () => {
    const timeout = new StoreTimeoutError("charge", 50);
    expect(StoreTimeoutError.isInstance(timeout)).toBe(true);
    expect(StoreError.isInstance(timeout)).toBe(true);
    expect(BudgetGateError.isInstance(timeout)).toBe(true);
    expect(ConfigurationError.isInstance(timeout)).toBe(false);
    expect(StoreTimeoutError.isInstance(new StoreError("down"))).toBe(false);
    for (const other of [new Error("x"), { name: "StoreTimeoutError" }, "StoreError", null, undefined, 42]) {
      expect(StoreError.isInstance(other)).toBe(false);
    }
  });

  it("holds for an error made by another copy of the package, where instanceof does not", () => {
    // Another copy: the same classes, loaded again, share only the registered brand symbol.
    class ForeignBase extends Error {
      constructor(message: string) {
        super(message);
        Object.defineProperty(this, Symbol.for("budgetgate.errorBrands"), {
          value: ["budgetgate.StoreTimeoutError", "budgetgate.StoreError", "budgetgate.BudgetGateError"],
        });
      }
    }
    const foreign = new ForeignBase("Store charge did not answer within 50 ms");
    expect(foreign instanceof StoreError).toBe(false);
    expect(StoreError.isInstance(foreign)).toBe(true);
    expect(StoreTimeoutError.isInstance(foreign)).toBe(true);
    expect(ConfigurationError.isInstance(foreign)).toBe(false);
  });

  it("narrows the type, and keeps its brands out of what an error logs and serialises", async () => {
    const engine = new Engine();
    const budget = new Budget({ maxSpend: "0.01" });
    const error: unknown = await engine.check(new Ledger("a", "b"), "-1", budget).catch((e: unknown) => e);
    expect(InvalidAmountError.isInstance(error)).toBe(true);
    if (InvalidAmountError.isInstance(error)) expect(error.value).toBe("-1");
    const blocked = new BudgetExceededError(await engine.check(new Ledger("a", "b"), "1", budget));
    expect(Object.keys(blocked)).toEqual(["name", "decision"]);
    const brands = Object.getOwnPropertyDescriptor(blocked, Symbol.for("budgetgate.errorBrands"));
    expect(brands).toMatchObject({ enumerable: false, writable: false });
    expect(brands?.value).toEqual(["budgetgate.BudgetExceededError", "budgetgate.BudgetGateError"]);
    expect(BudgetExceededError.isInstance(blocked) && blocked.decision.blocked).toBe(true);
  });
});
