/**
 * The dynamic scene graph's hot path on the wire: `SceneUpdateCommand` decoded and encoded by
 * hand, so geometry arrays travel as typed arrays and never as `number[]`.
 *
 * - `UpdateGeom.flt_array` (packed float) becomes a `Float32Array`: a zero-copy view of the
 *   message bytes when they sit 4-byte aligned, else one memcpy into a fresh buffer.
 * - `UpdateGeom.int_array` (packed uint32 varints) becomes a `Uint32Array`, counted then decoded
 *   in one tight loop each.
 * - `bytes` fields (`UpdateVariable.texture`, `UpdateTexture.texels`) are `Uint8Array` views.
 * - uint64 fields are plain numbers (exact up to 2^53, as protobufjs' `longs: Number`).
 *
 * Little-endian hosts only: protobuf's packed floats are little-endian and a view reads them in
 * host order. Every x86-64 and arm64 host qualifies; a big-endian host gets a
 * {@link DsgWireError} (`BIG_ENDIAN_HOST`) instead of wrong numbers.
 *
 * The emulator encodes with {@link encodeSceneUpdate}: UPDATE_GEOM by hand (packed floats are one
 * memcpy), everything else through protobufjs. Malformed input raises {@link DsgWireError}.
 */
import { EnSightError } from '../errors.ts';
import protobuf from 'protobufjs';
import type { SceneUpdateCommand, UpdateGeom } from './messages.ts';
import { messageType } from './root.ts';

/** A DSG message could not be decoded (`DSG_MALFORMED`), or this host cannot decode it (`BIG_ENDIAN_HOST`). */
export class DsgWireError extends EnSightError {
  override name = 'DsgWireError';
}

/** True on the hosts the DSG decoder supports. */
export const LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN_HOST) {
    throw new DsgWireError('the dynamic scene graph decoder needs a little-endian host (packed floats are read in place)', 'BIG_ENDIAN_HOST');
  }
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8');
const EMPTY_BYTES = new Uint8Array(0);

function malformed(what: string): never {
  throw new DsgWireError(`malformed dynamic scene graph message: ${what}`, 'DSG_MALFORMED');
}

/** A cursor over one message's bytes; `end` bounds every read. */
class Cursor {
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
function packedFloats(bytes: Uint8Array, start: number, end: number): Float32Array {
  const byteLength = end - start;
  if (byteLength % 4 !== 0) malformed(`packed floats of ${byteLength} bytes`);
  const offset = bytes.byteOffset + start;
  if (offset % 4 === 0) return new Float32Array(bytes.buffer, offset, byteLength / 4);
  return new Float32Array(bytes.buffer.slice(offset, offset + byteLength) as ArrayBuffer);
}

/** Packed uint32 varints as a Uint32Array: counted (one byte compare each), then decoded. */
function packedUint32(bytes: Uint8Array, start: number, end: number): Uint32Array {
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
function packedVarints(c: Cursor, wireType: number, into: number[]): void {
  if (wireType !== WIRE_LENGTH) {
    into.push(c.varint());
    return;
  }
  const sub = c.sub();
  while (sub.more) into.push(sub.varint());
}

/** A repeated float field, packed or not, appended to `into`. */
function floats(c: Cursor, wireType: number, into: number[]): void {
  if (wireType === WIRE_FIXED32) {
    into.push(c.float());
    return;
  }
  if (wireType !== WIRE_LENGTH) malformed(`repeated float with wire type ${wireType}`);
  const sub = c.sub();
  while (sub.more) into.push(sub.float());
}

/** `a` then `b` (either alone when the other is empty). */
function concat<T extends Float32Array | Uint32Array>(a: T, b: T, make: (length: number) => T): T {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = make(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const floatArray = (n: number) => new Float32Array(n);
const uintArray = (n: number) => new Uint32Array(n);

function expect(wireType: number, wanted: number, field: string): void {
  if (wireType !== wanted) malformed(`${field} has wire type ${wireType}, expected ${wanted}`);
}

function stringMapEntry(c: Cursor, into: Record<string, string>): void {
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

// ---- messages --------------------------------------------------------------------------------------

/** Reads one occurrence of a field into the message object under construction. */
type FieldReader = (c: Cursor, wireType: number, m: Record<string, unknown>) => void;

interface MessageDecoder {
  /** A message with every field at its default, as protobufjs' `toObject({ defaults: true })` gives it. */
  fresh(): Record<string, unknown>;
  fields: Map<number, FieldReader>;
  /** Runs once the message is read. */
  finish?(m: Record<string, unknown>): void;
}

const decoders = new Map<protobuf.Type, MessageDecoder>();

/**
 * A decoder for `type` built from the .proto reflection (the one source of truth for field
 * numbers and types), with hand-written readers where arrays can be large: UpdateGeom's
 * `flt_array` and `int_array` go straight into typed arrays.
 */
function decoderOf(type: protobuf.Type): MessageDecoder {
  const known = decoders.get(type);
  if (known) return known;
  const defaults: Array<[string, () => unknown]> = [];
  const fields = new Map<number, FieldReader>();
  const decoder: MessageDecoder = { fresh: () => Object.fromEntries(defaults.map(([name, make]) => [name, make()])), fields };
  decoders.set(type, decoder);
  for (const field of type.fieldsArray) {
    const [make, read] = fieldCodec(field);
    const oneof = field.partOf;
    if (oneof) {
      // Only the member present is set, and `<oneof name>` names it (camelCase, as our types do).
      const discriminator = oneof.name.charAt(0).toLowerCase() + oneof.name.slice(1);
      fields.set(field.id, (c, wt, m) => {
        const previous = m[discriminator];
        if (typeof previous === 'string') delete m[previous];
        m[discriminator] = field.name;
        read(c, wt, m);
      });
    } else {
      defaults.push([field.name, make]);
      fields.set(field.id, read);
    }
  }
  if (type === UpdateGeomType) {
    for (const [name, read, empty] of [['fltArray', readFltArray, () => new Float32Array(0)], ['intArray', readIntArray, () => new Uint32Array(0)]] as const) {
      fields.set(type.fields[name]!.id, read);
      defaults.find((d) => d[0] === name)![1] = empty;
    }
    decoder.finish = finishGeom;
  }
  return decoder;
}

function decodeMessage(decoder: MessageDecoder, c: Cursor): Record<string, unknown> {
  const m = decoder.fresh();
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    const read = decoder.fields.get(tag >>> 3);
    if (read) read(c, wt, m);
    else c.skip(wt);
  }
  decoder.finish?.(m);
  return m;
}

/** The default and the reader of one field, by its .proto type. */
function fieldCodec(field: protobuf.Field): [() => unknown, FieldReader] {
  const name = field.name;
  if (field instanceof protobuf.MapField) {
    if (field.keyType !== 'string' || field.type !== 'string') throw new Error(`ensight-grpc: map<${field.keyType},${field.type}> ${name} is not supported by the DSG decoder`);
    return [() => ({}), (c, wt, m) => {
      expect(wt, WIRE_LENGTH, name);
      stringMapEntry(c, m[name] as Record<string, string>);
    }];
  }
  const message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
  if (field.repeated) {
    if (message) {
      return [() => [], (c, wt, m) => {
        expect(wt, WIRE_LENGTH, name);
        (m[name] as unknown[]).push(decodeMessage(decoderOf(message), c.sub()));
      }];
    }
    if (field.type === 'float') return [() => [], (c, wt, m) => floats(c, wt, m[name] as number[])];
    if (VARINT_SCALARS.has(field.type) || field.resolvedType instanceof protobuf.Enum) {
      return [() => [], (c, wt, m) => packedVarints(c, wt, m[name] as number[])];
    }
    throw new Error(`ensight-grpc: repeated ${field.type} ${name} is not supported by the DSG decoder`);
  }
  if (message) {
    return [() => null, (c, wt, m) => {
      expect(wt, WIRE_LENGTH, name);
      m[name] = decodeMessage(decoderOf(message), c.sub());
    }];
  }
  if (field.resolvedType instanceof protobuf.Enum) return [() => 0, scalar(name, WIRE_VARINT, (c) => c.uint32())];
  switch (field.type) {
    case 'uint64':
    case 'int64':
      return [() => 0, scalar(name, WIRE_VARINT, (c) => c.varint())];
    case 'uint32':
      return [() => 0, scalar(name, WIRE_VARINT, (c) => c.uint32())];
    case 'int32':
      return [() => 0, scalar(name, WIRE_VARINT, (c) => c.uint32() | 0)];
    case 'bool':
      return [() => false, scalar(name, WIRE_VARINT, (c) => c.varint() !== 0)];
    case 'float':
      return [() => 0, scalar(name, WIRE_FIXED32, (c) => c.float())];
    case 'string':
      return [() => '', scalar(name, WIRE_LENGTH, (c) => c.string())];
    case 'bytes':
      return [() => EMPTY_BYTES, scalar(name, WIRE_LENGTH, (c) => c.bytesView())];
    default:
      throw new Error(`ensight-grpc: ${field.type} ${name} is not supported by the DSG decoder`);
  }
}

const VARINT_SCALARS = new Set(['uint64', 'int64', 'uint32', 'int32', 'bool']);

function scalar(name: string, wireType: number, read: (c: Cursor) => unknown): FieldReader {
  return (c, wt, m) => {
    expect(wt, wireType, name);
    m[name] = read(c);
  };
}

// Unpacked elements are legal protobuf but no EnSight sends them: collected, and joined in wire
// order before the next packed run and at the end.
const looseFloats = new WeakMap<object, number[]>();
const looseInts = new WeakMap<object, number[]>();

function readFltArray(c: Cursor, wt: number, m: Record<string, unknown>): void {
  if (wt === WIRE_LENGTH) {
    const [start, end] = c.span();
    finishGeom(m);
    m.fltArray = concat(m.fltArray as Float32Array, packedFloats(c.bytes, start, end), floatArray);
    return;
  }
  let loose = looseFloats.get(m);
  if (!loose) looseFloats.set(m, (loose = []));
  floats(c, wt, loose);
}

function readIntArray(c: Cursor, wt: number, m: Record<string, unknown>): void {
  if (wt === WIRE_LENGTH) {
    const [start, end] = c.span();
    finishGeom(m);
    m.intArray = concat(m.intArray as Uint32Array, packedUint32(c.bytes, start, end), uintArray);
    return;
  }
  expect(wt, WIRE_VARINT, 'int_array');
  let loose = looseInts.get(m);
  if (!loose) looseInts.set(m, (loose = []));
  loose.push(c.uint32());
}

/** Appends the unpacked elements collected so far. */
function finishGeom(m: Record<string, unknown>): void {
  const floatsLeft = looseFloats.get(m);
  if (floatsLeft?.length) m.fltArray = concat(m.fltArray as Float32Array, Float32Array.from(floatsLeft.splice(0)), floatArray);
  const intsLeft = looseInts.get(m);
  if (intsLeft?.length) m.intArray = concat(m.intArray as Uint32Array, Uint32Array.from(intsLeft.splice(0)), uintArray);
}

const UpdateGeomType = messageType('UpdateGeom');
const SceneUpdateCommandType = messageType('SceneUpdateCommand');

/**
 * One `SceneUpdateCommand` from its wire bytes. Arrays are views of `bytes` where they can be:
 * keep `bytes` unchanged while the update is in use.
 */
export function decodeSceneUpdate(bytes: Uint8Array): SceneUpdateCommand {
  requireLittleEndian();
  return decodeMessage(decoderOf(SceneUpdateCommandType), new Cursor(bytes, 0, bytes.length)) as unknown as SceneUpdateCommand;
}

// ---- encoding ------------------------------------------------------------------------------------


function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function uint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x20_0000 ? 3 : v < 0x1000_0000 ? 4 : 5;
}

class Writer {
  pos = 0;
  constructor(readonly out: Uint8Array) {}
  varint(v: number): void {
    const { out } = this;
    while (v >= 0x80) {
      out[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[this.pos++] = v;
  }
}

const utf8Encoder = new TextEncoder();

/** UPDATE_GEOM by hand: the packed arrays are a memcpy (floats) and one loop (varints). */
function encodeGeomUpdate(commandType: number, g: UpdateGeom): Uint8Array {
  const floats = g.fltArray ?? new Float32Array(0);
  const ints = g.intArray ?? new Uint32Array(0);
  const hash = g.hash ? utf8Encoder.encode(g.hash) : EMPTY_BYTES;
  let intBytes = 0;
  for (let i = 0; i < ints.length; i++) intBytes += uint32Size(ints[i]!);
  const floatBytes = floats.length * 4;
  const scalar = (tagSize: number, v: number) => (v ? tagSize + varintSize(v) : 0);
  const geomSize =
    scalar(1, g.id) + scalar(1, g.parentId) + scalar(1, g.payloadType) + scalar(1, g.variableId) +
    (floatBytes ? 1 + varintSize(floatBytes) + floatBytes : 0) +
    (intBytes ? 1 + varintSize(intBytes) + intBytes : 0) +
    scalar(1, g.chunkOffset) + scalar(1, g.totalArraySize) +
    (hash.length ? 1 + varintSize(hash.length) + hash.length : 0);
  const total = scalar(1, commandType) + 1 + varintSize(geomSize) + geomSize;
  const w = new Writer(new Uint8Array(total));
  const field = (tag: number, v: number) => {
    if (!v) return;
    w.varint(tag);
    w.varint(v);
  };
  field((1 << 3) | WIRE_VARINT, commandType);
  w.varint((7 << 3) | WIRE_LENGTH);
  w.varint(geomSize);
  field((1 << 3) | WIRE_VARINT, g.id);
  field((2 << 3) | WIRE_VARINT, g.parentId);
  field((3 << 3) | WIRE_VARINT, g.payloadType);
  field((4 << 3) | WIRE_VARINT, g.variableId);
  if (floatBytes) {
    w.varint((5 << 3) | WIRE_LENGTH);
    w.varint(floatBytes);
    w.out.set(new Uint8Array(floats.buffer, floats.byteOffset, floatBytes), w.pos);
    w.pos += floatBytes;
  }
  if (intBytes) {
    w.varint((6 << 3) | WIRE_LENGTH);
    w.varint(intBytes);
    const { out } = w;
    let pos = w.pos;
    for (let i = 0; i < ints.length; i++) {
      let v = ints[i]!;
      while (v >= 0x80) {
        out[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      out[pos++] = v;
    }
    w.pos = pos;
  }
  field((7 << 3) | WIRE_VARINT, g.chunkOffset);
  field((8 << 3) | WIRE_VARINT, g.totalArraySize);
  if (hash.length) {
    w.varint((9 << 3) | WIRE_LENGTH);
    w.varint(hash.length);
    w.out.set(hash, w.pos);
    w.pos += hash.length;
  }
  return w.out;
}

/** A `SceneUpdateCommand` as wire bytes; UPDATE_GEOM by hand, the rest by protobufjs. */
export function encodeSceneUpdate(update: SceneUpdateCommand): Uint8Array {
  if (update.updateGeom) {
    requireLittleEndian();
    return encodeGeomUpdate(update.commandType, update.updateGeom);
  }
  return SceneUpdateCommandType.encode(update as never).finish();
}
