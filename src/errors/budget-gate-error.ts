/** The property that carries an error's brands: registered, so every copy of the package shares it. */
const BRANDS: unique symbol = Symbol.for("budgetgate.errorBrands") as typeof BRANDS;

/** A budgetgate error class, as {@link BudgetGateError.isInstance} sees it: by its brand. */
type BrandedClass = abstract new (...args: never[]) => BudgetGateError;

/**
 * Base class of every error budgetgate throws, so that `catch (e) { if (e instanceof BudgetGateError) … }`
 * catches them all. Each class also has `isInstance`, which recognises its errors by a brand rather
 * than by prototype, so it holds when two copies of the package meet in one program (a bundled
 * dependency with its own copy, a monorepo with two versions), where `instanceof` says false.
 *
 * @example
 * try { await engine.check(ledger, "-1") } catch (e) {
 *   BudgetGateError.isInstance(e); // true
 *   InvalidAmountError.isInstance(e); // true
 * }
 */
export class BudgetGateError extends Error {
  /** What {@link BudgetGateError.isInstance} recognises this class by, across copies of the package. */
  static readonly brand: string = "budgetgate.BudgetGateError";
  /** The class name, which `error.name` and logs show. */
  override name = "BudgetGateError";
  /** The brands of this error's class and of every class it extends. */
  declare readonly [BRANDS]: readonly string[];

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    const brands: string[] = [];
    for (
      let c: unknown = new.target;
      typeof c === "function" && Object.hasOwn(c, "brand");
      c = Object.getPrototypeOf(c)
    ) {
      brands.push((c as unknown as { readonly brand: string }).brand);
    }
    // Not enumerable: logs and JSON of an error show what they showed before.
    Object.defineProperty(this, BRANDS, { value: brands });
  }

  /**
   * True if `value` is an error of this class (or of a class that extends it), made by any copy of
   * budgetgate.
   *
   * @example
   * if (BudgetExceededError.isInstance(error)) console.log(error.decision.remaining.toString());
   */
  static isInstance<C extends BrandedClass>(
    this: C & { readonly brand: string },
    value: unknown,
  ): value is InstanceType<C> {
    const brands = typeof value === "object" && value !== null ? (value as { [BRANDS]?: unknown })[BRANDS] : undefined;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class isInstance was called on (StoreError.isInstance checks StoreError's brand)
    return Array.isArray(brands) && brands.includes(this.brand);
  }
}
