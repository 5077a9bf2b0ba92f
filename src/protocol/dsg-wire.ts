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
import type {
  DeleteID,
  SceneUpdateCommand,
  UpdateGeom,
  UpdateGroup,
  UpdatePart,
  UpdateSceneBegin,
  UpdateSceneEnd,
  UpdateTexture,
  UpdateVariable,
  UpdateView,
  VariableLevel,
} from './messages.ts';
import { messageType } from './root.ts';

/** A DSG message could not be decoded (`DSG_MALFORMED`), or this host cannot decode it (`BIG_ENDIAN_HOST`). */
export class DsgWireError extends EnSightError {
  override name = 'DsgWireError';
}

/** True on the hosts the DSG decoder supports. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

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

function concatFloat32(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length === 0) return b;
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function concatUint32(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length === 0) return b;
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

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

function decodeGeom(c: Cursor): UpdateGeom {
  const m: UpdateGeom = {
    id: 0,
    parentId: 0,
    payloadType: 0,
    variableId: 0,
    fltArray: new Float32Array(0),
    intArray: new Uint32Array(0),
    chunkOffset: 0,
    totalArraySize: 0,
    hash: '',
  };
  let looseFloats: number[] | undefined;
  let looseInts: number[] | undefined;
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: expect(wt, WIRE_VARINT, 'payload_type'); m.payloadType = c.uint32() as UpdateGeom['payloadType']; break;
      case 4: expect(wt, WIRE_VARINT, 'variable_id'); m.variableId = c.varint(); break;
      case 5:
        if (wt === WIRE_LENGTH) {
          const [start, end] = c.span();
          m.fltArray = concatFloat32(m.fltArray, packedFloats(c.bytes, start, end));
        } else floats(c, wt, (looseFloats ??= []));
        break;
      case 6:
        if (wt === WIRE_LENGTH) {
          const [start, end] = c.span();
          m.intArray = concatUint32(m.intArray, packedUint32(c.bytes, start, end));
        } else {
          expect(wt, WIRE_VARINT, 'int_array');
          (looseInts ??= []).push(c.uint32());
        }
        break;
      case 7: expect(wt, WIRE_VARINT, 'chunk_offset'); m.chunkOffset = c.varint(); break;
      case 8: expect(wt, WIRE_VARINT, 'total_array_size'); m.totalArraySize = c.varint(); break;
      case 9: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  // Unpacked elements are legal protobuf but no EnSight sends them: the slow path is fine.
  if (looseFloats) m.fltArray = concatFloat32(m.fltArray, Float32Array.from(looseFloats));
  if (looseInts) m.intArray = concatUint32(m.intArray, Uint32Array.from(looseInts));
  return m;
}

function decodeLevel(c: Cursor): VariableLevel {
  const m: VariableLevel = { value: 0, red: 0, green: 0, blue: 0, alpha: 0 };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    if (wt !== WIRE_FIXED32) {
      c.skip(wt);
      continue;
    }
    const v = c.float();
    switch (tag >>> 3) {
      case 1: m.value = v; break;
      case 2: m.red = v; break;
      case 3: m.green = v; break;
      case 4: m.blue = v; break;
      case 5: m.alpha = v; break;
    }
  }
  return m;
}

function decodeVariable(c: Cursor): UpdateVariable {
  const m: UpdateVariable = {
    id: 0, parentId: 0, name: '', location: 0, dimension: 0, undefinedValue: 0, palInterp: 0, levels: [], subLevels: 0,
    undefinedDisplay: 0, undefinedColor: [], texture: EMPTY_BYTES, attributes: {}, hash: '',
  };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: expect(wt, WIRE_LENGTH, 'name'); m.name = c.string(); break;
      case 4: expect(wt, WIRE_VARINT, 'location'); m.location = c.uint32(); break;
      case 5: expect(wt, WIRE_VARINT, 'dimension'); m.dimension = c.uint32(); break;
      case 6: expect(wt, WIRE_FIXED32, 'undefined_value'); m.undefinedValue = c.float(); break;
      case 7: expect(wt, WIRE_VARINT, 'pal_interp'); m.palInterp = c.uint32(); break;
      case 8: expect(wt, WIRE_LENGTH, 'levels'); m.levels.push(decodeLevel(c.sub())); break;
      case 9: expect(wt, WIRE_VARINT, 'sub_levels'); m.subLevels = c.uint32(); break;
      case 10: expect(wt, WIRE_VARINT, 'undefined_display'); m.undefinedDisplay = c.uint32(); break;
      case 11: floats(c, wt, m.undefinedColor); break;
      case 12: expect(wt, WIRE_LENGTH, 'texture'); m.texture = c.bytesView(); break;
      case 13: expect(wt, WIRE_LENGTH, 'attributes'); stringMapEntry(c, m.attributes); break;
      case 14: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  return m;
}

function decodePart(c: Cursor): UpdatePart {
  const m: UpdatePart = {
    id: 0, parentId: 0, name: '', matrix4x4: [], fillColor: [], lineColor: [], render: 0, shading: 0, ambient: 0, diffuse: 0,
    specularShine: 0, specularIntensity: 0, materialName: '', nodeSizeDefault: 0, colorVariableid: 0, alphaVariableid: 0,
    nodeSizeVariableid: 0, displacementVariableid: 0, textureId: 0, textureWrapMode: 0, textureApplyMode: 0, textureSampleMode: 0, hash: '',
  };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    const field = tag >>> 3;
    switch (field) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: expect(wt, WIRE_LENGTH, 'name'); m.name = c.string(); break;
      case 4: floats(c, wt, m.matrix4x4); break;
      case 5: floats(c, wt, m.fillColor); break;
      case 6: floats(c, wt, m.lineColor); break;
      case 7: expect(wt, WIRE_VARINT, 'render'); m.render = c.uint32(); break;
      case 8: expect(wt, WIRE_VARINT, 'shading'); m.shading = c.uint32(); break;
      case 9: expect(wt, WIRE_FIXED32, 'ambient'); m.ambient = c.float(); break;
      case 10: expect(wt, WIRE_FIXED32, 'diffuse'); m.diffuse = c.float(); break;
      case 11: expect(wt, WIRE_FIXED32, 'specular_shine'); m.specularShine = c.float(); break;
      case 12: expect(wt, WIRE_FIXED32, 'specular_intensity'); m.specularIntensity = c.float(); break;
      case 13: expect(wt, WIRE_LENGTH, 'material_name'); m.materialName = c.string(); break;
      case 14: expect(wt, WIRE_FIXED32, 'node_size_default'); m.nodeSizeDefault = c.float(); break;
      case 15: expect(wt, WIRE_VARINT, 'color_variableid'); m.colorVariableid = c.varint(); break;
      case 16: expect(wt, WIRE_VARINT, 'alpha_variableid'); m.alphaVariableid = c.varint(); break;
      case 17: expect(wt, WIRE_VARINT, 'node_size_variableid'); m.nodeSizeVariableid = c.varint(); break;
      case 18: expect(wt, WIRE_VARINT, 'displacement_variableid'); m.displacementVariableid = c.varint(); break;
      case 19: expect(wt, WIRE_VARINT, 'texture_id'); m.textureId = c.varint(); break;
      case 20: expect(wt, WIRE_VARINT, 'texture_wrap_mode'); m.textureWrapMode = c.uint32(); break;
      case 21: expect(wt, WIRE_VARINT, 'texture_apply_mode'); m.textureApplyMode = c.uint32(); break;
      case 22: expect(wt, WIRE_VARINT, 'texture_sample_mode'); m.textureSampleMode = c.uint32(); break;
      case 23: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  return m;
}

function decodeGroup(c: Cursor): UpdateGroup {
  const m: UpdateGroup = { id: 0, parentId: 0, name: '', matrix4x4: [], attributes: {}, hash: '' };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: expect(wt, WIRE_LENGTH, 'name'); m.name = c.string(); break;
      case 4: floats(c, wt, m.matrix4x4); break;
      case 5: expect(wt, WIRE_LENGTH, 'attributes'); stringMapEntry(c, m.attributes); break;
      case 6: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  return m;
}

function decodeView(c: Cursor): UpdateView {
  const m: UpdateView = {
    id: 0, parentId: 0, timeline: [], lookat: [], lookfrom: [], upvector: [], fieldofview: 0, aspectratio: 0, nearfar: [], hash: '',
  };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: floats(c, wt, m.timeline); break;
      case 4: floats(c, wt, m.lookat); break;
      case 5: floats(c, wt, m.lookfrom); break;
      case 6: floats(c, wt, m.upvector); break;
      case 7: expect(wt, WIRE_FIXED32, 'fieldofview'); m.fieldofview = c.float(); break;
      case 8: expect(wt, WIRE_FIXED32, 'aspectratio'); m.aspectratio = c.float(); break;
      case 9: floats(c, wt, m.nearfar); break;
      case 10: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  return m;
}

function decodeTexture(c: Cursor): UpdateTexture {
  const m: UpdateTexture = { id: 0, parentId: 0, format: 0, width: 0, height: 0, texels: EMPTY_BYTES, hash: '' };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expect(wt, WIRE_VARINT, 'id'); m.id = c.varint(); break;
      case 2: expect(wt, WIRE_VARINT, 'parent_id'); m.parentId = c.varint(); break;
      case 3: expect(wt, WIRE_VARINT, 'format'); m.format = c.uint32(); break;
      case 4: expect(wt, WIRE_VARINT, 'width'); m.width = c.uint32(); break;
      case 5: expect(wt, WIRE_VARINT, 'height'); m.height = c.uint32(); break;
      case 6: expect(wt, WIRE_LENGTH, 'texels'); m.texels = c.bytesView(); break;
      case 7: expect(wt, WIRE_LENGTH, 'hash'); m.hash = c.string(); break;
      default: c.skip(wt);
    }
  }
  return m;
}

function decodeSceneBegin(c: Cursor): UpdateSceneBegin {
  const m: UpdateSceneBegin = { reset: false, id: 0 };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    if (tag >>> 3 === 1 && wt === WIRE_VARINT) m.reset = c.varint() !== 0;
    else if (tag >>> 3 === 2 && wt === WIRE_VARINT) m.id = c.varint();
    else c.skip(wt);
  }
  return m;
}

function decodeSceneEnd(c: Cursor): UpdateSceneEnd {
  const m: UpdateSceneEnd = { id: 0 };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    if (tag >>> 3 === 1 && wt === WIRE_VARINT) m.id = c.varint();
    else c.skip(wt);
  }
  return m;
}

function decodeDelete(c: Cursor): DeleteID {
  const m: DeleteID = { ids: [] };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    if (tag >>> 3 === 1) packedVarints(c, wt, m.ids);
    else c.skip(wt);
  }
  return m;
}

/**
 * One `SceneUpdateCommand` from its wire bytes. Arrays are views of `bytes` where they can be:
 * keep `bytes` unchanged while the update is in use.
 */
export function decodeSceneUpdate(bytes: Uint8Array): SceneUpdateCommand {
  requireLittleEndian();
  const c = new Cursor(bytes, 0, bytes.length);
  const update: SceneUpdateCommand = { commandType: 0 };
  while (c.more) {
    const tag = c.varint();
    const wt = tag & 7;
    const field = tag >>> 3;
    if (field === 1) {
      expect(wt, WIRE_VARINT, 'command_type');
      update.commandType = c.uint32() as SceneUpdateCommand['commandType'];
      continue;
    }
    if (field < 2 || field > 10) {
      c.skip(wt);
      continue;
    }
    expect(wt, WIRE_LENGTH, `oneof field ${field}`);
    const sub = c.sub();
    // A oneof keeps the last member seen, as protobuf merges it.
    clearOneof(update);
    switch (field) {
      case 2: update.sceneBegin = decodeSceneBegin(sub); update.updateCommand = 'sceneBegin'; break;
      case 3: update.sceneEnd = decodeSceneEnd(sub); update.updateCommand = 'sceneEnd'; break;
      case 4: update.deleteId = decodeDelete(sub); update.updateCommand = 'deleteId'; break;
      case 5: update.updatePart = decodePart(sub); update.updateCommand = 'updatePart'; break;
      case 6: update.updateGroup = decodeGroup(sub); update.updateCommand = 'updateGroup'; break;
      case 7: update.updateGeom = decodeGeom(sub); update.updateCommand = 'updateGeom'; break;
      case 8: update.updateVariable = decodeVariable(sub); update.updateCommand = 'updateVariable'; break;
      case 9: update.updateView = decodeView(sub); update.updateCommand = 'updateView'; break;
      case 10: update.updateTexture = decodeTexture(sub); update.updateCommand = 'updateTexture'; break;
    }
  }
  return update;
}

function clearOneof(update: SceneUpdateCommand): void {
  if (update.updateCommand) delete update[update.updateCommand];
}

// ---- encoding ------------------------------------------------------------------------------------

const SceneUpdateCommandMessage = messageType('SceneUpdateCommand');

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
  return SceneUpdateCommandMessage.encode(update as never).finish();
}
