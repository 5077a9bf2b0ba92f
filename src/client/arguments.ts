/**
 * Argument checks of `EnSightGRPC`'s methods, made where the call is made and before anything is
 * sent: a wrong argument is an `EnSightError` `INVALID_ARGUMENT` naming the method, the argument
 * and what was given (before, a number sent as a command came back from Python as a SyntaxError,
 * `null` options and a signal that is not an `AbortSignal` were plain `TypeError`s, and a width of
 * `NaN`, `1.5` or `2 ** 31` was coerced or wrapped on the wire). A call's `timeoutMs` is checked by
 * the channel (dial's `checkTimeoutMs`), the shared-memory options by `subscribeImages` (`BAD_ARGS`).
 */
import { checkTimeoutMs } from '../dial/call.ts';
import { EnSightError } from '../errors.ts';
import { describeValue } from '../shmem/args.ts';

function invalid(name: string, expected: string, value: unknown): EnSightError {
  return new EnSightError(`${name} must be ${expected}, got ${describeValue(value)}`, 'INVALID_ARGUMENT');
}

/** `options` as an options object: `{}` for undefined; null, an array or a primitive is refused. */
export function optionsObject<T extends object>(name: string, options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid(name, 'an options object', options);
  return options;
}

/** An optional `signal`: undefined or an `AbortSignal`. */
export function checkSignal(name: string, signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid(name, 'an AbortSignal', signal);
}

/** The options object of a method with a `signal` option (every call and iterator), checked. */
export function withSignal<T extends { signal?: AbortSignal }>(method: string, options: T | undefined): T {
  const checked = optionsObject(`${method} options`, options);
  checkSignal(`${method} options.signal`, checked.signal);
  return checked;
}

/**
 * The options of `connect()`: a `signal`, and a `timeoutMs` that is a positive number of
 * milliseconds (`Infinity`: no deadline), as a call's.
 */
export function connectOptions<T extends { signal?: AbortSignal; timeoutMs?: number }>(options: T | undefined): T {
  const checked = withSignal('connect', options);
  checkTimeoutMs('connect options.timeoutMs', checked.timeoutMs, (message) => new EnSightError(message, 'INVALID_ARGUMENT'));
  return checked;
}

export function checkString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw invalid(name, 'a string', value);
}

/** The ranges of the protobuf integer types a request carries. */
export const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 } as const;
export const UINT32 = { min: 0, max: 2 ** 32 - 1 } as const;

/**
 * An optional integer field of a request, within `range` (its protobuf type's, or a part of it):
 * what the wire would otherwise truncate (1.5), zero (NaN, `'10'`) or wrap (2^31).
 */
export function checkInteger(name: string, value: unknown, range: { min: number; max: number }): asserts value is number | undefined {
  if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value >= range.min && value <= range.max)) {
    throw invalid(name, `an integer from ${range.min} to ${range.max}`, value);
  }
}

/** An optional finite number (a `float` field). */
export function checkFinite(name: string, value: unknown): asserts value is number | undefined {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value))) throw invalid(name, 'a finite number', value);
}

/** An optional callback (`onImage`, the event callback): a function or undefined, refused where it is given, not at the first frame. */
export function checkCallback<T>(name: string, value: unknown): ((item: T) => void) | undefined {
  if (value === undefined || typeof value === 'function') return value as ((item: T) => void) | undefined;
  throw invalid(name, 'a function or undefined', value);
}

/** Commands of the scene graph stream: an iterable or an async iterable. */
export function checkIterable(name: string, value: unknown): void {
  const iterable =
    typeof value === 'object' &&
    value !== null &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
  if (!iterable) throw invalid(name, 'an iterable or async iterable', value);
}
