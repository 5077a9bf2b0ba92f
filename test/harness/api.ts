/**
 * The subset of tap's `Test` class that our tests may use. Anything used in a test file must be
 * listed here, so MiniTap (Bun, Deno) and tap (Node) give it the same meaning.
 */
export interface TestOptions {
  /** Skip the subtest; a string says why. */
  skip?: boolean | string;
  /** Fail the subtest if it has not finished after this many milliseconds. */
  timeout?: number;
}

/**
 * An expected-error pattern, as tap applies it: a RegExp tests the message; anything else is a
 * {@link TestApi.match} pattern for the error itself: a class (instanceof, and for an error tap
 * also wants the class's name inside the error's `name`), or an object whose fields are matched.
 */
export type ErrorPattern = (abstract new (...args: never[]) => unknown) | RegExp | Record<string, unknown>;

export interface TestApi {
  test(name: string, fn: (t: TestApi) => unknown | Promise<unknown>): Promise<unknown>;
  test(name: string, options: TestOptions, fn: (t: TestApi) => unknown | Promise<unknown>): Promise<unknown>;
  ok(value: unknown, message?: string): boolean;
  notOk(value: unknown, message?: string): boolean;
  equal(found: unknown, wanted: unknown, message?: string): boolean;
  not(found: unknown, notWanted: unknown, message?: string): boolean;
  /** Deep structural equality: tcompare's `strict` (no coercion, same constructors). */
  strictSame(found: unknown, wanted: unknown, message?: string): boolean;
  /**
   * tcompare's `match`: `found` has at least the fields of `pattern`, compared loosely (`1`
   * matches `'1'`, `null` matches `undefined`); a RegExp tests the string form, a string is a
   * substring of a string, a constructor is a type check, arrays match on the pattern's length.
   */
  match(found: unknown, pattern: unknown, message?: string): boolean;
  pass(message?: string): boolean;
  fail(message?: string): boolean;
  throws(fn: () => unknown, wanted?: ErrorPattern, message?: string): boolean | Error;
  rejects(p: Promise<unknown> | (() => Promise<unknown>), wanted?: ErrorPattern, message?: string): Promise<boolean>;
  resolves(p: Promise<unknown> | (() => Promise<unknown>), message?: string): Promise<boolean>;
  teardown(fn: () => unknown | Promise<unknown>): void;
  comment(...message: unknown[]): void;
}
