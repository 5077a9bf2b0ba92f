/**
 * The writing half of the dynamic scene graph's wire codec, used by the emulator: UPDATE_GEOM
 * encoded by hand (packed floats are one memcpy, packed varints one loop), every other update
 * through protobufjs.
 */
import type { SceneUpdateCommand, UpdateGeom } from './messages.ts';
import { messageType } from './root.ts';
import { EMPTY_BYTES, requireLittleEndian, WIRE_LENGTH, WIRE_VARINT } from './dsg-wire-reader.ts';

const SceneUpdateCommandType = messageType('SceneUpdateCommand');

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
