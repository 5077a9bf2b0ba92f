// DsgScene and its GLB export against the emulator over a real socket: chunked reassembly, hash
// reuse, incremental updates, deletes, the palette as PyEnSight samples it, size limits, and the
// GLB read back and checked against the scene and against the emulator's own GetGeometry.
import { join } from 'node:path';
import t, { type TestApi } from '../harness/mod.ts';
import { ArrayType, SceneUpdateCommandType as U, type UpdateGeom } from '../../src/protocol/mod.ts';
import { DsgScene, DsgSceneError, EnSightGRPC, readGlb, sceneToGlb, variableColors, type DsgSceneComplete, type DsgSceneOptions } from '../../src/mod.ts';
import { inProcessEmulator } from '../emulator/support.ts';

const { emulator, dir, token } = await inProcessEmulator(t);
const client = new EnSightGRPC({ grpcUdsPathname: join(dir, 'ensight'), securityToken: token });
t.teardown(() => client.shutdown());
if (!(await client.connect({ timeoutMs: 20_000 }))) throw new Error('cannot connect to the in-process emulator');

const IDENTITY = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
const IDS = { view: 1, variable: 2, group: 3, part: 4, coordinates: 5, triangles: 6, normals: 7, values: 8 };

/** A scene on its own stream, closed at teardown; `next()` waits for the next completed scene. */
function openScene(t: TestApi, options: DsgSceneOptions) {
  const controller = new AbortController();
  const scene = DsgScene.open(client, { ...options, signal: controller.signal });
  const scenes = scene[Symbol.asyncIterator]();
  t.teardown(() => {
    controller.abort();
    scene.close();
  });
  const next = async (): Promise<DsgSceneComplete> => {
    const r = await scenes.next();
    if (r.done) throw new Error('the scene stream ended');
    return r.value;
  };
  return { scene, next };
}

interface Gltf {
  scenes: Array<{ nodes: number[] }>;
  nodes: Array<{ name: string; matrix?: number[]; mesh?: number; children?: number[] }>;
  meshes: Array<{ primitives: Array<{ attributes: Record<string, number>; indices?: number; mode: number }> }>;
  accessors: Array<{ bufferView: number; componentType: number; count: number; type: string; min?: number[]; max?: number[] }>;
  bufferViews: Array<{ byteOffset: number; byteLength: number }>;
}

function accessorData(gltf: Gltf, bin: Uint8Array, index: number): Float32Array | Uint32Array {
  const a = gltf.accessors[index]!;
  const view = gltf.bufferViews[a.bufferView]!;
  const bytes = new Uint8Array(bin.subarray(view.byteOffset, view.byteOffset + view.byteLength)); // a copy, aligned
  return a.componentType === 5126 ? new Float32Array(bytes.buffer) : new Uint32Array(bytes.buffer);
}

/** The emulator's GetGeometry: its per-node colours, made from the same variable by the emulator itself. */
async function emulatorGlbColors(): Promise<Float32Array> {
  const { json, bin } = readGlb(await client.geometry());
  const gltf = json as unknown as Gltf;
  return accessorData(gltf, bin, gltf.meshes[0]!.primitives[0]!.attributes.COLOR_0!) as Float32Array;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

await t.test('chunked geometry reassembles into one typed array per id, equal to the unchunked one', async (t) => {
  const chunked = openScene(t, { maximumChunkSize: 4096, allowSpontaneous: false });
  const whole = openScene(t, { maximumChunkSize: 0, allowSpontaneous: false });
  const done = await chunked.next();
  await whole.next();
  t.equal(done.reset, true);
  t.strictSame(done.incomplete, [], 'every array complete');
  t.equal(done.arraysStored, 4);
  t.ok(done.updates > 6 + 4, `several UPDATE_GEOM chunks (${done.updates} updates)`);
  for (const id of [IDS.coordinates, IDS.triangles, IDS.normals, IDS.values]) {
    const a = chunked.scene.arrays.get(id)!;
    const b = whole.scene.arrays.get(id)!;
    t.ok(a.complete && b.complete, `geom ${id} complete`);
    t.equal(a.data.length, b.data.length, `geom ${id} length`);
    t.equal(maxDifference(a.data, b.data), 0, `geom ${id} values`);
  }
  const g = chunked.scene.partGeometry(IDS.part);
  t.ok(g.coordinates instanceof Float32Array && g.triangles instanceof Uint32Array && g.normals instanceof Float32Array, 'typed arrays by role');
  const nodes = g.coordinates!.length / 3;
  t.equal(g.normals!.length, nodes * 3);
  t.equal(g.variable?.values.length, nodes, 'nodal variable values');
  t.equal(g.variable?.id, IDS.variable);
  t.ok(g.triangles!.every((i) => i < nodes), 'triangles index the nodes');
  t.equal(chunked.scene.bytes, (nodes * 3 * 2 + nodes + g.triangles!.length) * 4, 'bytes held: the four arrays');
  // The emulator's GetGeometry draws the same mesh: its positions are ours.
  const { json, bin } = readGlb(await client.geometry());
  const gltf = json as unknown as Gltf;
  const positions = accessorData(gltf, bin, gltf.meshes[0]!.primitives[0]!.attributes.POSITION!);
  t.equal(maxDifference(positions, g.coordinates!), 0, 'coordinates equal GetGeometry positions');
});

await t.test('hash: a full pass re-sending unchanged arrays keeps the stored ones', async (t) => {
  const { scene, next } = openScene(t, { maximumChunkSize: 64 * 1024, allowSpontaneous: false });
  await next();
  const before = new Map([...scene.arrays].map(([id, a]) => [id, a.data]));
  const matrixBefore = [...scene.parts.get(IDS.part)!.matrix4x4];
  emulator.stepAnimation();
  scene.requestUpdate();
  const done = await next();
  t.equal(done.reset, true, 'a full pass');
  t.equal(done.arraysReused, 4, 'all four arrays re-sent with their hash');
  t.equal(done.arraysStored, 0, 'none stored again');
  for (const [id, data] of before) t.equal(scene.arrays.get(id)!.data, data, `geom ${id}: the same typed array`);
  t.not(JSON.stringify(scene.parts.get(IDS.part)!.matrix4x4), JSON.stringify(matrixBefore), 'the part moved');
});

await t.test('incremental updates: later passes leave unchanged geometry out', async (t) => {
  const { scene, next } = openScene(t, { allowIncrementalUpdates: true, allowSpontaneous: false });
  const first = await next();
  t.equal(first.reset, true, 'the first pass is a full one');
  const arrays = new Map([...scene.arrays].map(([id, a]) => [id, a.data]));
  emulator.rotateView(0, 20, 0);
  scene.requestUpdate();
  const second = await next();
  t.equal(second.reset, false, 'then incremental');
  t.equal(second.updates, 6, 'begin, view, variable, group, part, end: no geometry');
  t.equal(second.arraysStored + second.arraysReused, 0);
  for (const [id, data] of arrays) t.equal(scene.arrays.get(id)?.data, data, `geom ${id} kept`);
  t.equal(scene.parts.size, 1);
});

await t.test('deletes: a hidden part is removed by DELETE_ID, and comes back whole', async (t) => {
  const { scene, next } = openScene(t, { allowIncrementalUpdates: true, allowSpontaneous: true, maximumChunkSize: 8192 });
  t.teardown(() => emulator.setDsgPartVisible(true));
  await next();
  t.ok(scene.parts.has(IDS.part));
  emulator.setDsgPartVisible(false);
  const hidden = await next();
  t.equal(hidden.reset, false);
  t.strictSame([...hidden.deleted].sort((a, b) => a - b), [IDS.part, IDS.coordinates, IDS.triangles, IDS.normals, IDS.values]);
  t.notOk(scene.parts.has(IDS.part), 'the part is gone');
  t.equal(scene.arrays.size, 0, 'its arrays are gone');
  t.equal(scene.bytes, 0, 'no bytes held');
  t.ok(scene.groups.has(IDS.group) && scene.variables.has(IDS.variable), 'the rest stays');
  emulator.setDsgPartVisible(true);
  const shown = await next();
  t.equal(shown.arraysStored, 4, 'all arrays sent again');
  t.strictSame(shown.incomplete, []);
  t.ok(scene.parts.has(IDS.part));
});

await t.test('a full pass without the part drops it (reset)', async (t) => {
  const { scene, next } = openScene(t, { allowSpontaneous: true });
  t.teardown(() => emulator.setDsgPartVisible(true));
  await next();
  emulator.setDsgPartVisible(false);
  const done = await next();
  t.equal(done.reset, true);
  t.ok(done.deleted.includes(IDS.part) && done.deleted.includes(IDS.coordinates), 'left out: dropped');
  t.equal(scene.parts.size, 0);
  t.equal(scene.arrays.size, 0);
});

await t.test('the palette texture, sampled as PyEnSight samples it, colours the nodes as the emulator does', async (t) => {
  const { scene, next } = openScene(t, { allowSpontaneous: false });
  await next();
  const variable = scene.variables.get(IDS.variable)!;
  const texture = variable.texture;
  t.ok(texture instanceof Uint8Array, 'texture is bytes');
  t.ok(texture.length > 0 && texture.length % 4 === 0, `RGBA texels (${texture.length} bytes)`);
  // PyEnSight's dsg_server.py: num_texels = len(texture) / 4, half_texel = 1 / (num_texels * 2.0),
  // tex_width = half_texel * 2 * (num_texels - 1), S = s * tex_width + half_texel.
  const numTexels = Math.floor(texture.length / 4);
  const halfTexel = 1 / (numTexels * 2.0);
  t.ok(Number.isFinite(halfTexel), 'no division by zero');
  t.equal(numTexels & (numTexels - 1), 0, 'a power of two texels');
  const texWidth = halfTexel * 2 * (numTexels - 1);
  const values = scene.partGeometry(IDS.part).variable!.values;
  const levels = variable.levels.map((l) => l.value);
  const [low, high] = [Math.min(...levels), Math.max(...levels)];
  const sampled = new Float32Array(values.length * 3);
  for (let i = 0; i < values.length; i++) {
    const s = Math.min(1, Math.max(0, (values[i]! - low) / (high - low)));
    const S = s * texWidth + halfTexel;
    const texel = Math.min(numTexels - 1, Math.floor(S * numTexels)); // nearest-texel lookup
    for (let c = 0; c < 3; c++) sampled[i * 3 + c] = texture[texel * 4 + c]! / 255;
  }
  const expected = await emulatorGlbColors();
  t.equal(expected.length, sampled.length);
  // One texel of a 5-level rainbow over 256 texels moves a channel by at most 4/255; plus rounding.
  t.ok(maxDifference(sampled, expected) <= 5 / 255, `nearest texel within a texel's step (${maxDifference(sampled, expected).toFixed(4)})`);
  const interpolated = variableColors(variable, values);
  t.ok(maxDifference(interpolated, expected) <= 1.5 / 255, `variableColors within rounding (${maxDifference(interpolated, expected).toFixed(4)})`);
  t.equal(variable.texture[3], 255, 'opaque');
});

await t.test('GLB export: read back, counts, bounds, hierarchy and colours match the scene', async (t) => {
  const { scene, next } = openScene(t, { maximumChunkSize: 32 * 1024, allowSpontaneous: false });
  await next();
  const { json, bin } = readGlb(sceneToGlb(scene));
  const gltf = json as unknown as Gltf;
  const g = scene.partGeometry(IDS.part);
  const nodes = g.coordinates!.length / 3;
  // view → group → part
  const root = gltf.nodes[gltf.scenes[0]!.nodes[0]!]!;
  t.equal(gltf.scenes[0]!.nodes.length, 1, 'one root: the view');
  const group = gltf.nodes[root.children![0]!]!;
  t.equal(group.name, scene.groups.get(IDS.group)!.name);
  t.strictSame(group.matrix ?? IDENTITY, scene.groups.get(IDS.group)!.matrix4x4, 'group matrix (left out when identity)');
  const partNode = gltf.nodes[group.children![0]!]!;
  t.equal(partNode.name, scene.parts.get(IDS.part)!.name);
  t.strictSame(partNode.matrix ?? IDENTITY, scene.parts.get(IDS.part)!.matrix4x4, 'part matrix');
  const primitive = gltf.meshes[partNode.mesh!]!.primitives[0]!;
  const position = gltf.accessors[primitive.attributes.POSITION!]!;
  t.equal(position.count, nodes, 'POSITION count');
  t.equal(gltf.accessors[primitive.attributes.NORMAL!]!.count, nodes, 'NORMAL count');
  t.equal(gltf.accessors[primitive.attributes.COLOR_0!]!.count, nodes, 'COLOR_0 count');
  t.equal(gltf.accessors[primitive.indices!]!.count, g.triangles!.length, 'index count');
  const min = [0, 1, 2].map((c) => Math.min(...Array.from(g.coordinates!.filter((_, i) => i % 3 === c))));
  const max = [0, 1, 2].map((c) => Math.max(...Array.from(g.coordinates!.filter((_, i) => i % 3 === c))));
  t.strictSame(position.min, min, 'POSITION min: the scene bounds');
  t.strictSame(position.max, max, 'POSITION max: the scene bounds');
  t.equal(maxDifference(accessorData(gltf, bin, primitive.attributes.POSITION!), g.coordinates!), 0, 'positions');
  t.equal(maxDifference(accessorData(gltf, bin, primitive.indices!), g.triangles!), 0, 'indices');
  const colors = accessorData(gltf, bin, primitive.attributes.COLOR_0!);
  t.equal(maxDifference(colors, variableColors(scene.variables.get(IDS.variable)!, g.variable!.values)), 0, 'COLOR_0 is the variable through its palette');
  t.ok(maxDifference(colors, await emulatorGlbColors()) <= 1.5 / 255, 'and agrees with the emulator\'s own colours');
});

await t.test('size limits: typed errors, and the scene keeps what it had', async (t) => {
  const { scene, next } = openScene(t, { maxArrayBytes: 4096, maximumChunkSize: 1024, allowSpontaneous: false });
  await t.rejects(next(), { name: 'DsgSceneError', code: 'ARRAY_TOO_LARGE' });
  t.equal(scene.arrays.size, 0, 'nothing stored');
  t.equal(scene.bytes, 0);
  t.ok(scene.parts.has(IDS.part), 'what came before the refused array is kept');

  const small = openScene(t, { maxSceneBytes: 100_000, allowSpontaneous: false });
  await t.rejects(small.next(), { code: 'SCENE_TOO_LARGE' });
  t.ok(small.scene.bytes <= 100_000, `held bytes stay under the limit (${small.scene.bytes})`);

  t.throws(() => new DsgScene({ maximumChunkSize: -1 }), { code: 'INVALID_OPTION' });
  t.throws(() => new DsgScene({ maxArrayBytes: 1.5 }), DsgSceneError);
  const fed = new DsgScene();
  const geom = (g: Partial<UpdateGeom>) => ({
    commandType: U.UPDATE_GEOM,
    updateGeom: { id: 9, parentId: 4, payloadType: ArrayType.COORDINATES, variableId: 0, fltArray: new Float32Array(6), intArray: new Uint32Array(0), chunkOffset: 0, totalArraySize: 12, hash: '', ...g },
  });
  fed.apply({ commandType: U.UPDATE_SCENE_BEGIN, sceneBegin: { reset: true, id: 1 } });
  fed.apply(geom({}));
  t.throws(() => fed.apply(geom({ chunkOffset: 9 })), { code: 'CHUNK_OUT_OF_BOUNDS' });
  t.throws(() => fed.apply(geom({ payloadType: ArrayType.TRIANGLES })), { code: 'ARRAY_TYPE_MISMATCH' });
  t.equal(fed.arrays.get(9)!.complete, false, 'the half-received array is untouched');
  fed.apply(geom({ chunkOffset: 6 }));
  t.equal(fed.arrays.get(9)!.complete, true);
  t.strictSame(fed.apply({ commandType: U.UPDATE_SCENE_END, sceneEnd: { id: 1 } })!.incomplete, []);
});

await t.test('GLB export of per-element normals and values: triangles spread to their corners', async (t) => {
  // Two triangles sharing an edge, coloured per element: fed through the public apply().
  const scene = new DsgScene();
  const floats = (a: number[]) => Float32Array.from(a);
  const geom = (id: number, payloadType: UpdateGeom['payloadType'], data: Float32Array | Uint32Array, variableId = 0) => ({
    commandType: U.UPDATE_GEOM,
    updateGeom: {
      id, parentId: 10, payloadType, variableId, chunkOffset: 0, totalArraySize: data.length, hash: '',
      fltArray: data instanceof Float32Array ? data : new Float32Array(0), intArray: data instanceof Uint32Array ? data : new Uint32Array(0),
    },
  });
  scene.apply({ commandType: U.UPDATE_SCENE_BEGIN, sceneBegin: { reset: true, id: 1 } });
  scene.apply({
    commandType: U.UPDATE_VARIABLE,
    updateVariable: {
      id: 20, parentId: 0, name: 'pressure', location: 1, dimension: 0, undefinedValue: 0, palInterp: 0, subLevels: 0, undefinedDisplay: 0,
      undefinedColor: [], attributes: {}, hash: '', texture: new Uint8Array(0),
      levels: [{ value: 0, red: 0, green: 0, blue: 1, alpha: 1 }, { value: 10, red: 1, green: 0, blue: 0, alpha: 1 }],
    },
  });
  scene.apply({
    commandType: U.UPDATE_PART,
    updatePart: {
      id: 10, parentId: 0, name: 'plate', matrix4x4: IDENTITY, fillColor: [0.5, 0.5, 0.5, 1], lineColor: [], render: 1, shading: 0, ambient: 0, diffuse: 1,
      specularShine: 0, specularIntensity: 0, materialName: '', nodeSizeDefault: 1, colorVariableid: 20, alphaVariableid: 0, nodeSizeVariableid: 0,
      displacementVariableid: 0, textureId: 0, textureWrapMode: 0, textureApplyMode: 0, textureSampleMode: 0, hash: '',
    },
  });
  scene.apply(geom(11, ArrayType.COORDINATES, floats([0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0])));
  scene.apply(geom(12, ArrayType.TRIANGLES, Uint32Array.from([0, 1, 2, 0, 2, 3])));
  scene.apply(geom(13, ArrayType.ELEM_NORMALS, floats([0, 0, 1, 0, 0, -1])));
  scene.apply(geom(14, ArrayType.ELEM_VARIABLE, floats([0, 10]), 20));
  scene.apply({ commandType: U.UPDATE_SCENE_END, sceneEnd: { id: 1 } });
  const { json, bin } = readGlb(sceneToGlb(scene));
  const gltf = json as unknown as Gltf;
  const node = gltf.nodes[gltf.scenes[0]!.nodes[0]!]!;
  t.equal(node.matrix, undefined, 'an identity matrix is left out');
  const primitive = gltf.meshes[node.mesh!]!.primitives[0]!;
  t.equal(primitive.indices, undefined, 'unindexed');
  t.equal(gltf.accessors[primitive.attributes.POSITION!]!.count, 6, 'three corners a triangle');
  t.strictSame(Array.from(accessorData(gltf, bin, primitive.attributes.NORMAL!)), [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, -1, 0, 0, -1, 0, 0, -1], 'normals per element');
  t.strictSame(Array.from(accessorData(gltf, bin, primitive.attributes.COLOR_0!)), [0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0], 'colours per element, from the levels (no texture)');
  t.strictSame(Array.from(accessorData(gltf, bin, primitive.attributes.POSITION!)), [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0]);
});
