/**
 * The reading half of the dynamic scene graph's wire codec: a bounds-checked cursor over one
 * message's bytes and the readers of packed numeric fields, which land in typed arrays without an
 * intermediate `number[]` (views of the message bytes where alignment allows). dsg-wire.ts builds
 * the message decoders on top; malformed input raises {@link DsgWireError}.
 */
import { EnSightError } from '../errors.ts';

/** A DSG message could not be decoded (`DSG_MALFORMED`), or this host cannot decode it (`BIG_ENDIAN_HOST`). */
export class DsgWireError extends EnSightError {
  override name = 'DsgWireError';
}

/** True on the hosts the DSG decoder supports. */
export const LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN_HOST) {
    throw new DsgWireError('the dynamic scene graph decoder needs a little-endian host (packed floats are read in place)', 'BIG_ENDIAN_HOST');
  }
}

export const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8');
export const EMPTY_BYTES = new Uint8Array(0);

function malformed(what: string): never {
  throw new DsgWireError(`malformed dynamic scene graph message: ${what}`, 'DSG_MALFORMED');
}

/** A cursor over one message's bytes; `end` bounds every read. */
export class Cursor {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get more(): boolean {
    return this.pos < this.end;
  }

  /** A varint as an unsigned number; exact up to 2^53. */
  varint(): number {
    const { bytes, end } = this;
    let pos = this.pos;
    let b = pos < end ? bytes[pos++]! : malformed('truncated varint');
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let value = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 10; i++) {
      b = pos < end ? bytes[pos++]! : malformed('truncated varint');
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos;
        return value;
      }
      scale *= 0x80;
    }
    return malformed('varint longer than 10 bytes');
  }

  /** A varint's low 32 bits, as uint32 fields and enums take it. */
  uint32(): number {
    return this.varint() % 0x1_0000_0000;
  }

  float(): number {
    if (this.pos + 4 > this.end) malformed('truncated float');
    const { bytes, pos } = this;
    this.pos = pos + 4;
    F32_SCRATCH_BYTES[0] = bytes[pos]!;
    F32_SCRATCH_BYTES[1] = bytes[pos + 1]!;
    F32_SCRATCH_BYTES[2] = bytes[pos + 2]!;
    F32_SCRATCH_BYTES[3] = bytes[pos + 3]!;
    return F32_SCRATCH[0]!;
  }

  /** The extent of a length-delimited field, advancing past it. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) malformed(`a field of ${length} bytes overruns its message`);
    this.pos = start + length;
    return [start, start + length];
  }

  sub(): Cursor {
    const [start, end] = this.span();
    return new Cursor(this.bytes, start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return start === end ? '' : utf8.decode(this.bytes.subarray(start, end));
  }

  bytesView(): Uint8Array {
    const [start, end] = this.span();
    return start === end ? EMPTY_BYTES : this.bytes.subarray(start, end);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LENGTH:
        this.span();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        malformed(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) malformed('truncated field');
    this.pos += n;
  }
}

const F32_SCRATCH = new Float32Array(1);
const F32_SCRATCH_BYTES = new Uint8Array(F32_SCRATCH.buffer);

// ---- repeated numeric fields ---------------------------------------------------------------------

/** Packed floats as a Float32Array: a view when aligned, else one copy. */
export function packedFloats(bytes: Uint8Array, start: number, end: number): Float32Array {
  const byteLength = end - start;
  if (byteLength % 4 !== 0) malformed(`packed floats of ${byteLength} bytes`);
  const offset = bytes.byteOffset + start;
  if (offset % 4 === 0) return new Float32Array(bytes.buffer, offset, byteLength / 4);
  return new Float32Array(bytes.buffer.slice(offset, offset + byteLength) as ArrayBuffer);
}

/** Packed uint32 varints as a Uint32Array: counted (one byte compare each), then decoded. */
export function packedUint32(bytes: Uint8Array, start: number, end: number): Uint32Array {
  if (start === end) return new Uint32Array(0);
  if (bytes[end - 1]! >= 0x80) malformed('packed varints end inside a varint');
  let count = 0;
  for (let i = start; i < end; i++) count += bytes[i]! >>> 7 ^ 1;
  const out = new Uint32Array(count);
  let pos = start;
  for (let n = 0; n < count; n++) {
    let b = bytes[pos++]!;
    let v = b & 0x7f;
    if (b >= 0x80) {
      b = bytes[pos++]!;
      v |= (b & 0x7f) << 7;
      if (b >= 0x80) {
        b = bytes[pos++]!;
        v |= (b & 0x7f) << 14;
        if (b >= 0x80) {
          b = bytes[pos++]!;
          v |= (b & 0x7f) << 21;
          if (b >= 0x80) {
            b = bytes[pos++]!;
            v |= b << 28; // bits above 32 are dropped, as protobuf's uint32 does
            while (b >= 0x80) b = bytes[pos++]!;
          }
        }
      }
    }
    out[n] = v;
  }
  return out;
}

/** Packed varints (uint64) as numbers. */
export function packedVarints(c: Cursor, wireType: number, into: number[]): void {
  if (wireType !== WIRE_LENGTH) {
    into.push(c.varint());
    return;
  }
  const sub = c.sub();
  while (sub.more) into.push(sub.varint());
}

/** A repeated float field, packed or not, appended to `into`. */
export function floats(c: Cursor, wireType: number, into: number[]): void {
  if (wireType === WIRE_FIXED32) {
    into.push(c.float());
    return;
  }
  if (wireType !== WIRE_LENGTH) malformed(`repeated float with wire type ${wireType}`);
  const sub = c.sub();
  while (sub.more) into.push(sub.float());
}

/** `a` then `b` (either alone when the other is empty). */
export function concat<T extends Float32Array | Uint32Array>(a: T, b: T, make: (length: number) => T): T {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = make(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export const floatArray = (n: number) => new Float32Array(n);
export const uintArray = (n: number) => new Uint32Array(n);

export function expect(wireType: number, wanted: number, field: string): void {
  if (wireType !== wanted) malformed(`${field} has wire type ${wireType}, expected ${wanted}`);
}

export function stringMapEntry(c: Cursor, into: Record<string, string>): void {
  const entry = c.sub();
  let key = '';
  let value = '';
  while (entry.more) {
    const tag = entry.varint();
    const wt = tag & 7;
    if (tag >>> 3 === 1 && wt === WIRE_LENGTH) key = entry.string();
    else if (tag >>> 3 === 2 && wt === WIRE_LENGTH) value = entry.string();
    else entry.skip(wt);
  }
  into[key] = value;
}
