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
 * An expected-error pattern: a class (checked with instanceof), a RegExp (tested against the
 * message), or an object whose fields are compared one by one (RegExp values test strings).
 */
export type ErrorPattern = (abstract new (...args: never[]) => unknown) | RegExp | Record<string, unknown>;

export interface TestApi {
  test(name: string, fn: (t: TestApi) => unknown | Promise<unknown>): Promise<unknown>;
  test(name: string, options: TestOptions, fn: (t: TestApi) => unknown | Promise<unknown>): Promise<unknown>;
  ok(value: unknown, message?: string): boolean;
  notOk(value: unknown, message?: string): boolean;
  equal(found: unknown, wanted: unknown, message?: string): boolean;
  not(found: unknown, notWanted: unknown, message?: string): boolean;
  /** Deep structural equality (strict for primitives). */
  strictSame(found: unknown, wanted: unknown, message?: string): boolean;
  /** `found` has at least the fields of `pattern`; RegExp values test strings. */
  match(found: unknown, pattern: unknown, message?: string): boolean;
  pass(message?: string): boolean;
  fail(message?: string): boolean;
  throws(fn: () => unknown, wanted?: ErrorPattern, message?: string): boolean | Error;
  rejects(p: Promise<unknown> | (() => Promise<unknown>), wanted?: ErrorPattern, message?: string): Promise<boolean>;
  resolves(p: Promise<unknown> | (() => Promise<unknown>), message?: string): Promise<boolean>;
  teardown(fn: () => unknown | Promise<unknown>): void;
  comment(...message: unknown[]): void;
}
