import { InvalidAmountError } from "./errors.js";

/** Decimal places every amount is exact to. */
export const DECIMALS = 18;
const UNIT = 10n ** 18n;
/**
 * Largest magnitude `Amount.from` accepts, in units of 10⁻¹⁸: 38 significant digits, what every
 * store holds exactly per amount. Sums may go past it (a ledger's total after commits above their
 * estimates) and still print, compare and subtract exactly.
 */
export const MAX_UNITS = 10n ** 38n - 1n;

/** What `Amount.from` accepts: a plain decimal string, a bigint, a finite number or an Amount. */
export type AmountInput = string | number | bigint | Amount;

/** How `Amount.from` treats more than 18 decimal places. */
export interface AmountOptions {
  /**
   * `"reject"` (the default) throws {@link InvalidAmountError}; `"up"` rounds up to 18 places,
   * which is what an actual cost reported after the fact needs: spent money is never undercounted.
   */
  readonly round?: "reject" | "up";
  /** Allow values below zero (differences); user-supplied costs and budgets never are. */
  readonly allowNegative?: boolean;
}

/** The options when none are given: one object, not a new one per call. */
const DEFAULTS: AmountOptions = Object.freeze({});

const PLAIN = /^([+-]?)(\d+)(?:\.(\d*))?$|^([+-]?)\.(\d+)$/;
const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/;

/**
 * An immutable, exact decimal amount of money: a whole number of 10⁻¹⁸ units held as a bigint,
 * plus the number of decimal places to print, kept the way a decimal type keeps it.
 *
 * Amounts never pass through floating point. Arithmetic is `plus` and `minus`; `+` on an Amount
 * throws rather than silently concatenating or rounding.
 *
 * @example
 * const left = Amount.from("10.00").minus("0.03");
 * left.toString(); // "9.97"
 * Amount.from(0.1).plus(0.2).equals("0.3"); // true
 */
export class Amount {
  /** Zero, with no decimal places. */
  static readonly ZERO = new Amount(0n, 0);

  /** The value in units of 10⁻¹⁸ (so `Amount.from("1").units === 10n ** 18n`). */
  readonly units: bigint;
  /** Decimal places shown by `toString()`, 0 to 18. */
  readonly scale: number;

  private constructor(units: bigint, scale: number) {
    this.units = units;
    this.scale = scale;
  }

  /**
   * Parses an amount.
   *
   * - a string in plain decimal notation: `"10.00"`, `"0.000000000000000001"`;
   * - a bigint: a whole number of currency units (`5n` is five);
   * - a finite number, taken at its shortest round-trip spelling (`0.1` is exactly one tenth);
   * - an Amount, returned as it is.
   *
   * @throws {InvalidAmountError} for NaN, ±Infinity, a negative value, more than 18 decimal places
   * (unless `round: "up"`), more than 38 significant digits, exponent notation in a string, or a
   * value of any other type. The error names the value.
   * @example
   * Amount.from("0.03").toString(); // "0.03"
   * Amount.from(1e-7).toString();   // "0.0000001"
   * Amount.from("1.0000000000000000001", { round: "up" }).toString(); // "1.000000000000000001"
   */
  static from(value: AmountInput, options: AmountOptions = DEFAULTS): Amount {
    let amount: Amount;
    // A string first: the usual cost, and `instanceof` costs more than `typeof` (the more so when a
    // build redefines class names, as tsx does).
    if (typeof value === "string") {
      // Costs are usually a handful of constants ("0.03"): parse each once.
      const known = options.round === undefined && options.allowNegative === undefined ? PARSED.get(value) : undefined;
      if (known !== undefined) return known;
      amount = new Amount(...parseString(value, value, options));
      if (amount.units >= 0n && amount.units <= MAX_UNITS && options.round !== "up") remember(value, amount);
    } else if (value instanceof Amount) {
      amount = value;
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        throw new InvalidAmountError(value, "it is not a finite number");
      }
      amount = new Amount(...parseNumber(value, options));
    } else if (typeof value === "bigint") {
      amount = new Amount(value * UNIT, 0);
    } else {
      throw new InvalidAmountError(
        value,
        `expected a decimal string, number, bigint or Amount, got ${describeType(value)}`,
      );
    }
    if (amount.units < 0n && !options.allowNegative) {
      throw new InvalidAmountError(value, "amounts must be zero or more");
    }
    if (amount.units > MAX_UNITS || amount.units < -MAX_UNITS) {
      throw new InvalidAmountError(value, "it has more than 38 significant digits (20 before the point, 18 after)");
    }
    return amount;
  }

  /**
   * Builds an amount from a whole number of 10⁻¹⁸ units, printed with at least `scale` places
   * and as many more as the value needs. Stores use it to turn totals back into amounts.
   *
   * @throws {InvalidAmountError} if `scale` is not a whole number from 0 to 18.
   * @example
   * Amount.fromUnits(30_000_000_000_000_000n, 2).toString(); // "0.03"
   */
  static fromUnits(units: bigint, scale = 0): Amount {
    if (!Number.isInteger(scale) || scale < 0 || scale > DECIMALS) {
      throw new InvalidAmountError(scale, "scale must be a whole number from 0 to 18");
    }
    return new Amount(units, neededScale(units, scale));
  }

  /** `this + other`, exact; keeps the larger scale. @example Amount.from("1.5").plus("0.25") // 1.75 */
  plus(other: AmountInput): Amount {
    const o = operand(other);
    return new Amount(this.units + o.units, Math.max(this.scale, o.scale));
  }

  /** `this − other`, exact; may be negative. @example Amount.from("10.00").minus("0.03") // 9.97 */
  minus(other: AmountInput): Amount {
    const o = operand(other);
    return new Amount(this.units - o.units, Math.max(this.scale, o.scale));
  }

  /** −1, 0 or 1 as `this` is below, equal to or above `other`. @example Amount.from(1).compare("1.00") // 0 */
  compare(other: AmountInput): -1 | 0 | 1 {
    const o = operand(other);
    return this.units < o.units ? -1 : this.units > o.units ? 1 : 0;
  }

  /** Equal in value, whatever the scale: `Amount.from("1.0").equals(1)` is true. */
  equals(other: AmountInput): boolean {
    return this.compare(other) === 0;
  }

  /** `this < other`. */
  lt(other: AmountInput): boolean {
    return this.compare(other) < 0;
  }

  /** `this ≤ other`. */
  lte(other: AmountInput): boolean {
    return this.compare(other) <= 0;
  }

  /** `this > other`. */
  gt(other: AmountInput): boolean {
    return this.compare(other) > 0;
  }

  /** `this ≥ other`. */
  gte(other: AmountInput): boolean {
    return this.compare(other) >= 0;
  }

  /** True for zero. */
  isZero(): boolean {
    return this.units === 0n;
  }

  /** True below zero. */
  isNegative(): boolean {
    return this.units < 0n;
  }

  /** The amount, or zero if it is negative, keeping the scale. @example Amount.from("-1", {allowNegative: true}).clampToZero() // 0 */
  clampToZero(): Amount {
    return this.units < 0n ? new Amount(0n, this.scale) : this;
  }

  /** Plain decimal notation with `scale` places, never exponent notation: `"9.97"`. */
  toString(): string {
    const negative = this.units < 0n;
    const digits = (negative ? -this.units : this.units).toString().padStart(DECIMALS + 1, "0");
    const whole = digits.slice(0, digits.length - DECIMALS);
    const fraction = digits.slice(digits.length - DECIMALS, digits.length - DECIMALS + this.scale);
    return `${negative ? "-" : ""}${whole}${this.scale > 0 ? `.${fraction}` : ""}`;
  }

  /** The same string as `toString()`, so that JSON keeps every digit. */
  toJSON(): string {
    return this.toString();
  }

  /** Allows `${amount}` and `String(amount)`; refuses `+`, `*` and friends, which would lose exactness. */
  [Symbol.toPrimitive](hint: string): string {
    if (hint === "string") return this.toString();
    throw new TypeError(
      `Amount ${this.toString()} cannot be used with JavaScript arithmetic operators; use plus(), minus() or compare()`,
    );
  }
}

/**
 * An operand of arithmetic. An Amount is taken as it is, even past 38 digits: the limit is on what
 * callers pass in, while a total of over-estimate commits can exceed it and must still compare.
 */
function operand(value: AmountInput): Amount {
  return value instanceof Amount ? value : Amount.from(value, { allowNegative: true });
}

const PARSED = new Map<string, Amount>();
const PARSED_LIMIT = 1024;

function remember(text: string, amount: Amount): void {
  if (PARSED.size >= PARSED_LIMIT) PARSED.clear();
  PARSED.set(text, amount);
}

/** Parses plain decimal notation into `[units, scale]`. */
function parseString(text: string, original: unknown, options: AmountOptions): [bigint, number] {
  const trimmed = text.trim();
  const match = PLAIN.exec(trimmed);
  if (!match) {
    const hint = /e/i.test(trimmed) ? "; exponent notation is not accepted in strings, write it out in full" : "";
    throw new InvalidAmountError(original, `expected plain decimal notation such as "10.00"${hint}`);
  }
  const sign = match[1] ?? match[4] ?? "";
  const whole = match[2] ?? "0";
  let fraction = match[3] ?? match[5] ?? "";
  let roundUp = false;
  if (fraction.length > DECIMALS) {
    const extra = fraction.slice(DECIMALS);
    fraction = fraction.slice(0, DECIMALS);
    if (/[1-9]/.test(extra)) {
      if (options.round !== "up") {
        throw new InvalidAmountError(original, "it has more than 18 decimal places");
      }
      roundUp = true;
    }
  }
  const scale = fraction.length;
  let units = BigInt(whole) * UNIT + BigInt(fraction.padEnd(DECIMALS, "0") || "0");
  if (roundUp) units += 1n;
  return [sign === "-" ? -units : units, scale];
}

function parseNumber(value: number, options: AmountOptions): [bigint, number] {
  // String(x) is the shortest spelling that round-trips, which is what the user meant by 0.1.
  const spelled = String(value);
  const exp = EXPONENT.exec(spelled);
  if (!exp) return parseString(spelled, value, options);
  const sign = exp[1] ?? "";
  const digits = `${exp[2] ?? ""}${exp[3] ?? ""}`;
  const pointAt = (exp[2] ?? "").length + Number(exp[4]);
  const plain =
    pointAt <= 0
      ? `0.${"0".repeat(-pointAt)}${digits}`
      : pointAt >= digits.length
        ? digits + "0".repeat(pointAt - digits.length)
        : `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return parseString(sign + plain, value, options);
}

/**
 * @internal `a + b` in units. Adding zero allocates nothing: every bigint sum is a new bigint,
 * about 50 ns on the hot path of a decision, and most ledgers hold nothing (no holds, a new window).
 * @example sumUnits(0n, 5n); // 5n, the same bigint
 */
export function sumUnits(a: bigint, b: bigint): bigint {
  return a === 0n ? b : b === 0n ? a : a + b;
}

/** Powers of ten as bigints: POW10[k] = 10^k. */
const POW10 = Array.from({ length: DECIMALS + 1 }, (_, k) => 10n ** BigInt(k));

/** The fewest places, at least `atLeast`, that print `units` exactly. */
function neededScale(units: bigint, atLeast: number): number {
  // One modulo settles the usual case: the value already fits the scale asked for.
  if (units % (POW10[DECIMALS - atLeast] as bigint) === 0n) return atLeast;
  const digits = (units < 0n ? -units : units).toString();
  let zeros = 0;
  while (digits.charCodeAt(digits.length - 1 - zeros) === 48) zeros++;
  return DECIMALS - Math.min(zeros, DECIMALS);
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
