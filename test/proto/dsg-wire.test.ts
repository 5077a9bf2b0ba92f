// The DSG codec (src/protocol/dsg-wire.ts) against protobufjs, both ways: every message kind,
// typed arrays at every alignment, varints at their limits, and malformed input.
import t from '../harness/mod.ts';
import {
  DsgWireError,
  LITTLE_ENDIAN_HOST,
  SceneUpdateCommandType as U,
  decodeSceneUpdate,
  encodeSceneUpdate,
  messageType,
  type SceneUpdateCommand,
} from '../../src/protocol/mod.ts';

const Message = messageType('SceneUpdateCommand');

/** protobufjs' reading of the same bytes, arrays as plain numbers. */
function reference(bytes: Uint8Array): Record<string, unknown> {
  const { UpdateCommand, ...rest } = Message.toObject(Message.decode(bytes), { longs: Number, defaults: true, oneofs: true, arrays: true, bytes: Array });
  return { ...rest, updateCommand: UpdateCommand };
}

/** Our decoding as plain data: typed arrays and byte views become number arrays. */
function plain(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function protobufjsBytes(update: object): Uint8Array {
  return Message.encode(Message.fromObject(update)).finish();
}

const floats = Float32Array.from({ length: 999 }, (_, i) => Math.sin(i) * 1e3);
const ints = Uint32Array.from([0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1, 42]);

const SAMPLES: Record<string, object> = {
  geomFloats: { commandType: U.UPDATE_GEOM, updateGeom: { id: 5, parentId: 4, payloadType: 0, variableId: 0, fltArray: Array.from(floats), chunkOffset: 3, totalArraySize: 5000, hash: 'abc' } },
  geomInts: { commandType: U.UPDATE_GEOM, updateGeom: { id: 2 ** 40 + 1, parentId: 4, payloadType: 1, intArray: Array.from(ints), totalArraySize: ints.length } },
  variable: {
    commandType: U.UPDATE_VARIABLE,
    updateVariable: {
      id: 2, parentId: 1, name: 'temperature', location: 1, dimension: 0, undefinedValue: -1e30, palInterp: 1,
      levels: [{ value: 0, red: 0, green: 0, blue: 1, alpha: 1 }, { value: 1, red: 1, green: 0, blue: 0, alpha: 0.5 }],
      subLevels: 3, undefinedDisplay: 2, undefinedColor: [0.25, 0.5, 0.75, 1], texture: [1, 2, 3, 255, 4, 5, 6, 255],
      attributes: { ENS_UNITS: 'K', note: 'é' }, hash: 'v',
    },
  },
  part: {
    commandType: U.UPDATE_PART,
    updatePart: {
      id: 4, parentId: 3, name: 'torus', matrix4x4: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0, 1], fillColor: [0.5, 0.5, 0.5, 1],
      lineColor: [0, 0, 0, 1], render: 1, shading: 1, ambient: 0.25, diffuse: 0.75, specularShine: 32, specularIntensity: 0.5,
      materialName: 'steel', nodeSizeDefault: 2, colorVariableid: 2, alphaVariableid: 9, nodeSizeVariableid: 10,
      displacementVariableid: 11, textureId: 12, textureWrapMode: 2, textureApplyMode: 1, textureSampleMode: 1, hash: 'p',
    },
  },
  group: { commandType: U.UPDATE_GROUP, updateGroup: { id: 3, parentId: 1, name: 'case', matrix4x4: [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1], attributes: { ENS_OBJ_TYPE: 'ENS_CASE' }, hash: 'g' } },
  view: {
    commandType: U.UPDATE_VIEW,
    updateView: { id: 1, timeline: [0, 1], lookat: [0, 0, 0], lookfrom: [0, 0, 5], upvector: [0, 1, 0], fieldofview: 35, aspectratio: 1.5, nearfar: [1, 10], hash: 'w' },
  },
  texture: { commandType: U.UPDATE_TEXTURE, updateTexture: { id: 20, parentId: 4, format: 1, width: 2, height: 1, texels: [9, 8, 7, 6, 5, 4, 3, 2], hash: 't' } },
  delete: { commandType: U.DELETE_ID, deleteId: { ids: [4, 5, 2 ** 33, 7] } },
  begin: { commandType: U.UPDATE_SCENE_BEGIN, sceneBegin: { reset: true, id: 77 } },
  end: { commandType: U.UPDATE_SCENE_END, sceneEnd: { id: 77 } },
};

t.test('this host is little-endian (the decoder refuses others)', async (t) => {
  t.ok(LITTLE_ENDIAN_HOST);
});

t.test('every message kind decodes as protobufjs reads it', async (t) => {
  for (const [name, sample] of Object.entries(SAMPLES)) {
    const bytes = protobufjsBytes(sample);
    t.strictSame(plain(decodeSceneUpdate(bytes)), reference(bytes), name);
  }
});

t.test('geometry arrays are typed arrays', async (t) => {
  const geom = decodeSceneUpdate(protobufjsBytes(SAMPLES.geomFloats!)).updateGeom!;
  t.ok(geom.fltArray instanceof Float32Array, 'flt_array: Float32Array');
  t.strictSame(Array.from(geom.fltArray), Array.from(floats));
  const ints2 = decodeSceneUpdate(protobufjsBytes(SAMPLES.geomInts!)).updateGeom!;
  t.ok(ints2.intArray instanceof Uint32Array, 'int_array: Uint32Array');
  t.strictSame(Array.from(ints2.intArray), Array.from(ints), 'varints of 1 to 5 bytes');
  t.equal(ints2.id, 2 ** 40 + 1, 'uint64 ids beyond 32 bits');
  const variable = decodeSceneUpdate(protobufjsBytes(SAMPLES.variable!)).updateVariable!;
  t.ok(variable.texture instanceof Uint8Array, 'texture: Uint8Array');
});

t.test('packed floats at every alignment: a view when aligned, a copy otherwise', async (t) => {
  const bytes = protobufjsBytes(SAMPLES.geomFloats!);
  let views = 0;
  for (let shift = 0; shift < 4; shift++) {
    const backing = new Uint8Array(bytes.length + 8);
    backing.set(bytes, shift);
    const input = backing.subarray(shift, shift + bytes.length);
    const geom = decodeSceneUpdate(input).updateGeom!;
    t.strictSame(Array.from(geom.fltArray), Array.from(floats), `shift ${shift}`);
    if (geom.fltArray.buffer === backing.buffer) views++;
  }
  t.equal(views, 1, 'exactly one of four alignments reads in place');
});

t.test('encodeSceneUpdate writes what protobufjs reads', async (t) => {
  const update: SceneUpdateCommand = {
    commandType: U.UPDATE_GEOM,
    updateCommand: 'updateGeom',
    updateGeom: { id: 6, parentId: 4, payloadType: 1, variableId: 0, fltArray: new Float32Array(0), intArray: ints, chunkOffset: 12, totalArraySize: 24, hash: 'h' },
  };
  const read = reference(encodeSceneUpdate(update));
  t.strictSame((read.updateGeom as { intArray: number[] }).intArray, Array.from(ints));
  t.equal((read.updateGeom as { chunkOffset: number }).chunkOffset, 12);
  t.strictSame(plain(decodeSceneUpdate(encodeSceneUpdate(update))), plain(update), 'our own round trip');
  const subarray = floats.subarray(3, 30);
  const floatUpdate: SceneUpdateCommand = {
    commandType: U.UPDATE_GEOM,
    updateGeom: { id: 5, parentId: 4, payloadType: 0, variableId: 0, fltArray: subarray, intArray: new Uint32Array(0), chunkOffset: 3, totalArraySize: 999, hash: '' },
  };
  t.strictSame((reference(encodeSceneUpdate(floatUpdate)).updateGeom as { fltArray: number[] }).fltArray, Array.from(subarray), 'a subarray encodes its own elements');
  for (const [name, sample] of Object.entries(SAMPLES)) {
    const decoded = decodeSceneUpdate(protobufjsBytes(sample));
    t.strictSame(plain(decodeSceneUpdate(encodeSceneUpdate(decoded))), plain(decoded), `${name} survives encode → decode`);
  }
});

t.test('unknown fields are skipped', async (t) => {
  const known = protobufjsBytes(SAMPLES.end!);
  // field 15 varint, field 16 fixed64, field 17 length-delimited, field 18 fixed32
  const extra = Uint8Array.from([0x78, 0x05, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 2, 0xaa, 0xbb, 0x95, 0x01, 1, 2, 3, 4]);
  const both = new Uint8Array(known.length + extra.length);
  both.set(extra);
  both.set(known, extra.length);
  t.strictSame(plain(decodeSceneUpdate(both)), reference(known));
});

t.test('malformed messages raise DsgWireError', async (t) => {
  const bytes = protobufjsBytes(SAMPLES.geomFloats!);
  for (const cut of [1, 3, 10, bytes.length - 1]) {
    t.throws(() => decodeSceneUpdate(bytes.subarray(0, cut)), { name: 'DsgWireError', code: 'DSG_MALFORMED' }, `cut at ${cut}`);
  }
  // UPDATE_GEOM whose flt_array holds 3 bytes
  t.throws(() => decodeSceneUpdate(Uint8Array.from([0x3a, 0x05, 0x2a, 0x03, 1, 2, 3])), DsgWireError, 'packed floats not a multiple of 4');
  // int_array whose last varint never ends
  t.throws(() => decodeSceneUpdate(Uint8Array.from([0x3a, 0x04, 0x32, 0x02, 0x01, 0x80])), { code: 'DSG_MALFORMED', message: /end inside a varint/ });
  // an 11-byte varint
  t.throws(() => decodeSceneUpdate(Uint8Array.from([0x08, ...new Array(10).fill(0xff), 0x01])), /longer than 10 bytes/);
  // wire type 3 (start group)
  t.throws(() => decodeSceneUpdate(Uint8Array.from([0x0b])), /wire type 3/);
  t.strictSame(plain(decodeSceneUpdate(new Uint8Array(0))), { commandType: 0 }, 'an empty message is UPDATE_SCENE_BEGIN with nothing set');
});

t.test('unpacked geometry elements (legal protobuf) join the packed ones', async (t) => {
  const f32 = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
  // UpdateGeom: flt_array packed [1], then 1.5 and 2.5 unpacked; int_array 7 and 300 unpacked, then packed [9]
  const geom = [0x2a, 0x04, ...f32(1), 0x2d, ...f32(1.5), 0x2d, ...f32(2.5), 0x30, 0x07, 0x30, 0xac, 0x02, 0x32, 0x01, 0x09];
  const bytes = Uint8Array.from([0x08, 0x05, 0x3a, geom.length, ...geom]);
  const g = decodeSceneUpdate(bytes).updateGeom!;
  t.ok(g.fltArray instanceof Float32Array && g.intArray instanceof Uint32Array);
  t.strictSame(plain(decodeSceneUpdate(bytes)), reference(bytes), 'as protobufjs reads it');
  t.strictSame(Array.from(g.fltArray), [1, 1.5, 2.5]);
  t.strictSame(Array.from(g.intArray), [7, 300, 9], 'in wire order');
});
