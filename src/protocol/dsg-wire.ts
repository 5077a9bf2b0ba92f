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
import protobuf from 'protobufjs';
import type { SceneUpdateCommand } from './messages.ts';
import { messageType } from './root.ts';
import {
  concat,
  Cursor,
  EMPTY_BYTES,
  expect,
  floatArray,
  floats,
  packedFloats,
  packedUint32,
  packedVarints,
  requireLittleEndian,
  stringMapEntry,
  uintArray,
  WIRE_FIXED32,
  WIRE_LENGTH,
  WIRE_VARINT,
} from './dsg-wire-reader.ts';

export { DsgWireError, LITTLE_ENDIAN_HOST } from './dsg-wire-reader.ts';
export { encodeSceneUpdate } from './dsg-wire-encoder.ts';

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
