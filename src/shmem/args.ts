/**
 * Argument checks of the public shared-memory API: a wrong argument is a `ShmemError` BAD_ARGS
 * naming the argument and what was given, before anything reaches the addon (which refuses wrong
 * types too, with a TypeError, as a second line).
 */
import { ShmemError } from './errors.ts';

/** What a value is, for a message: `the string "abc"`, `-1`, `undefined`, `a Uint16Array of 6 bytes`. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

function badArgs(name: string, expected: string, value: unknown): ShmemError {
  return ShmemError.of('BAD_ARGS', `${name} must be ${expected}, got ${describeValue(value)}`);
}

const UINT32_MAX = 0xffff_ffff;

/** An integer from 0 to 2^32-1 (frame numbers, flags). */
export function checkUint32(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw badArgs(name, 'an integer from 0 to 4294967295', value);
  }
  return value;
}

/** A frame dimension in pixels: an integer from 1 to 2^32-1. */
export function checkDimension(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > UINT32_MAX) {
    throw badArgs(name, 'a positive integer number of pixels', value);
  }
  return value;
}

/** A duration in milliseconds (negative: no limit, where the call says so), or undefined. */
export function checkMs(name: string, value: unknown): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || Number.isNaN(value))) {
    throw badArgs(name, 'a number of milliseconds', value);
  }
  return value;
}

export function checkBytes(name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw badArgs(name, 'a Uint8Array', value);
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw badArgs(name, 'a non-empty string', value);
  return value;
}

/** What an option may hold (besides undefined, which every option may). */
export type OptionKind = 'boolean' | 'string' | 'function' | 'ms' | 'positive' | 'bytes-count' | 'bytes-limit';

const EXPECTED: Record<OptionKind, string> = {
  boolean: 'a boolean',
  string: 'a string',
  function: 'a function',
  ms: 'a number of milliseconds',
  positive: 'a positive number',
  'bytes-count': 'a positive integer number of bytes',
  'bytes-limit': 'zero or a positive integer number of bytes',
};

function fits(kind: OptionKind, value: unknown): boolean {
  switch (kind) {
    case 'boolean':
    case 'string':
    case 'function':
      return typeof value === kind;
    case 'ms':
      return typeof value === 'number' && !Number.isNaN(value);
    case 'positive':
      return typeof value === 'number' && value > 0 && Number.isFinite(value);
    case 'bytes-count':
      return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
    case 'bytes-limit':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  }
}

/**
 * An options object (or undefined) whose options named in `kinds` hold what they should; others
 * are left alone. Returns the object, `{}` for undefined.
 */
export function checkOptions<T extends object>(name: string, options: T | undefined, kinds: { [K in keyof T]?: OptionKind }): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw badArgs(name, 'an options object', options);
  for (const key of Object.keys(kinds) as Array<keyof T & string>) {
    const value = options[key];
    const kind = kinds[key]!;
    if (value !== undefined && !fits(kind, value)) throw badArgs(`${name}.${key}`, EXPECTED[kind], value);
  }
  return options;
}
