import { describe, expect, it } from "vitest";
import { Amount, InvalidAmountError, MAX_UNITS } from "../../src/index.js";

describe("Amount", () => {
  it("parses plain decimal strings, keeping their scale", () => {
    expect(Amount.from("10.00").toString()).toBe("10.00");
    expect(Amount.from("0.000000000000000001").units).toBe(1n);
    expect(Amount.from(".5").toString()).toBe("0.5");
    expect(Amount.from("7.").toString()).toBe("7");
    expect(Amount.from(" 3.25 ").toString()).toBe("3.25");
    expect(Amount.from("+1.5").toString()).toBe("1.5");
  });

  it("keeps scale through arithmetic the way a decimal type does", () => {
    expect(Amount.from("10.00").minus("0.03").toString()).toBe("9.97");
    expect(Amount.from("1.5").plus("0.25").toString()).toBe("1.75");
    expect(Amount.from("1.50").plus("1.50").toString()).toBe("3.00");
    expect(Amount.from("1").minus("3").toString()).toBe("-2");
  });

  it("takes numbers at their shortest round-trip spelling", () => {
    expect(Amount.from(0.1).plus(0.2).toString()).toBe("0.3");
    expect(Amount.from(0.1).plus(0.2).equals("0.3")).toBe(true);
    expect(Amount.from(1e-7).toString()).toBe("0.0000001");
    expect(Amount.from(1.5e-17).toString()).toBe("0.000000000000000015");
  });

  it("never prints exponent notation", () => {
    expect(Amount.from(1e19).toString()).toBe("10000000000000000000");
    expect(Amount.from(1.23e-10).toString()).toBe("0.000000000123");
    expect(Amount.from(5n).toString()).toBe("5");
    expect(Amount.fromUnits(1n).toString()).toBe("0.000000000000000001");
    expect(Amount.fromUnits(30_000_000_000_000_000n, 2).toString()).toBe("0.03");
  });

  it("holds 38 significant digits exactly", () => {
    const big = Amount.from("99999999999999999999.999999999999999999");
    expect(big.units).toBe(10n ** 38n - 1n);
    expect(big.toString()).toBe("99999999999999999999.999999999999999999");
    expect(Amount.from("12345678901234567.123456789012345678").plus("0.000000000000000001").toString()).toBe(
      "12345678901234567.123456789012345679",
    );
  });

  it("adds, subtracts and compares sums past 38 digits, which Amount.from still refuses as input", () => {
    const top = Amount.fromUnits(MAX_UNITS, 2);
    const total = top.plus(top);
    expect(total.toString()).toBe("199999999999999999999.999999999999999998");
    expect(total.gt(top)).toBe(true);
    expect(Amount.from("10").minus(total).clampToZero().isZero()).toBe(true);
    expect(total.minus(top).equals(top)).toBe(true);
    expect(() => Amount.from(total)).toThrow(/more than 38 significant digits/);
    expect(() => Amount.from("199999999999999999999.999999999999999998")).toThrow(InvalidAmountError);
  });

  it("compares by value, whatever the scale", () => {
    expect(Amount.from("1.0").equals(1)).toBe(true);
    expect(Amount.from("1.01").compare("1.1")).toBe(-1);
    expect(Amount.from(2).gt("1.999999999999999999")).toBe(true);
    expect(Amount.from(2).gte(2)).toBe(true);
    expect(Amount.from(2).lt(2)).toBe(false);
    expect(Amount.from(2).lte("2.00")).toBe(true);
  });

  it("rounds an actual cost with more than 18 places up, never down", () => {
    expect(Amount.from("1.0000000000000000001", { round: "up" }).toString()).toBe("1.000000000000000001");
    expect(Amount.from("0.0000000000000000000001", { round: "up" }).units).toBe(1n);
    expect(Amount.from("2.0000000000000000000", { round: "up" }).toString()).toBe("2.000000000000000000");
    expect(Amount.from(1.5e-19, { round: "up" }).units).toBe(1n);
  });

  it("accepts extra trailing zeros beyond 18 places: the value is exact", () => {
    expect(Amount.from("1.00000000000000000000").units).toBe(10n ** 18n);
  });

  it.each([
    [Number.NaN, "not a finite number"],
    [Number.POSITIVE_INFINITY, "not a finite number"],
    [Number.NEGATIVE_INFINITY, "not a finite number"],
    ["-0.01", "zero or more"],
    [-1, "zero or more"],
    [-1n, "zero or more"],
    ["0.0000000000000000001", "more than 18 decimal places"],
    [1e-19, "more than 18 decimal places"],
    ["1e3", "exponent notation"],
    ["abc", "plain decimal notation"],
    ["", "plain decimal notation"],
    ["1.2.3", "plain decimal notation"],
    ["1,5", "plain decimal notation"],
    ["100000000000000000000", "38 significant digits"],
    [1e21, "38 significant digits"],
    [null, "got null"],
    [undefined, "got a undefined"],
    [{}, "got an object"],
    [[1], "got an array"],
    [true, "got a boolean"],
  ])("rejects %s with an error naming the value", (value, why) => {
    let error: unknown;
    try {
      Amount.from(value as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidAmountError);
    expect((error as InvalidAmountError).message).toContain(why);
    expect((error as InvalidAmountError).value).toBe(value);
  });

  it("refuses JavaScript arithmetic operators, which would lose exactness", () => {
    const a = Amount.from("1.5");
    expect(`${a}`).toBe("1.5");
    expect(String(a)).toBe("1.5");
    expect(() => (a as unknown as number) + 1).toThrow(TypeError);
    expect(() => (a as unknown as number) * 2).toThrow(TypeError);
  });

  it("serialises to JSON as a decimal string", () => {
    expect(JSON.stringify({ cost: Amount.from("0.10") })).toBe('{"cost":"0.10"}');
  });
});
