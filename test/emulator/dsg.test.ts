import t, { type TestApi } from '../harness/mod.ts';
import {
  ArrayType,
  ClientCommandType,
  DSG_API_VERSION,
  DynamicSceneGraphServiceDefinition,
  SceneUpdateCommandType as U,
  type SceneClientCommand,
  type SceneUpdateCommand,
  type UpdateGeom,
  type VersionReply,
} from '../../src/protocol/mod.ts';
import { Mailbox, inProcessEmulator, rawClient, sceneStream, tokenMetadata, unary } from './support.ts';

const { emulator, address, token } = await inProcessEmulator(t);
const client = rawClient(t, address);
const metadata = tokenMetadata(token);

type Stream = ReturnType<typeof openStream>;
function openStream(t: TestApi) {
  const updates = new Mailbox<SceneUpdateCommand>();
  const call = sceneStream<SceneClientCommand, SceneUpdateCommand>(t, client, metadata);
  call.on('data', (u: SceneUpdateCommand) => updates.put(u));
  return { call, updates };
}

async function readScene(stream: Stream): Promise<SceneUpdateCommand[]> {
  const scene = [await stream.updates.take('UPDATE_SCENE_BEGIN')];
  while (scene.at(-1)!.commandType !== U.UPDATE_SCENE_END) scene.push(await stream.updates.take('a scene update'));
  return scene;
}

/** Joins chunked UPDATE_GEOM arrays per id, checking offsets and totals as it goes. */
function joinGeometry(t: TestApi, scene: SceneUpdateCommand[], maxElements: number) {
  const arrays = new Map<number, { type: number; total: number; values: number[]; messages: number }>();
  for (const u of scene) {
    if (u.commandType !== U.UPDATE_GEOM) continue;
    const g = u.updateGeom as UpdateGeom;
    const values = g.fltArray.length ? g.fltArray : g.intArray;
    // uint64 fields may decode as Long objects: key by their numeric value.
    const id = Number(g.id);
    const entry = arrays.get(id) ?? { type: g.payloadType, total: Number(g.totalArraySize), values: [], messages: 0 };
    arrays.set(id, entry);
    if (Number(g.chunkOffset) !== entry.values.length) t.fail(`geom ${g.id}: chunk at ${g.chunkOffset}, expected ${entry.values.length}`);
    if (values.length > maxElements) t.fail(`geom ${g.id}: ${values.length} elements exceed the chunk size`);
    entry.values.push(...values);
    entry.messages++;
  }
  for (const [id, entry] of arrays) t.equal(entry.values.length, Number(entry.total), `geom ${id} fills total_array_size`);
  return arrays;
}

await t.test('GetAPIVersion is 101', async (t) => {
  const reply = await unary<VersionReply>(client, 'GetAPIVersion', {}, metadata, DynamicSceneGraphServiceDefinition);
  t.equal(reply.version, DSG_API_VERSION);
  t.equal(reply.version, 101);
});

await t.test('INIT: begin, view, variable, group, part, geometry, end', async (t) => {
  const stream = openStream(t);
  stream.call.write({ commandType: ClientCommandType.INIT, init: { allowIncrementalUpdates: false, maximumChunkSize: 0 } });
  const scene = await readScene(stream);
  const kinds = scene.map((u) => u.commandType);
  t.strictSame(kinds.slice(0, 5), [U.UPDATE_SCENE_BEGIN, U.UPDATE_VIEW, U.UPDATE_VARIABLE, U.UPDATE_GROUP, U.UPDATE_PART]);
  t.equal(kinds.at(-1), U.UPDATE_SCENE_END);
  t.equal(Number(scene[0]!.sceneBegin!.id), Number(scene.at(-1)!.sceneEnd!.id), 'begin and end share the scene id');
  const variable = scene[2]!.updateVariable!;
  t.ok(variable.levels.length >= 2, 'a palette');
  const part = scene[4]!.updatePart!;
  t.equal(Number(part.colorVariableid), Number(variable.id), 'the part is coloured by the variable');
  t.equal(Number(part.parentId), Number(scene[3]!.updateGroup!.id));
  t.equal(part.matrix4x4.length, 16);
  const geometry = joinGeometry(t, scene, Infinity);
  const types = [...geometry.values()].map((g) => g.type).sort();
  t.strictSame(types, [ArrayType.COORDINATES, ArrayType.TRIANGLES, ArrayType.NODE_VARIABLE, ArrayType.NODE_NORMALS].sort());
  const byType = (type: number) => [...geometry.values()].find((g) => g.type === type)!;
  const nodes = byType(ArrayType.COORDINATES).values.length / 3;
  t.equal(byType(ArrayType.NODE_NORMALS).values.length, nodes * 3);
  t.equal(byType(ArrayType.NODE_VARIABLE).values.length, nodes);
  t.ok(byType(ArrayType.TRIANGLES).values.every((i) => i < nodes), 'triangles index the nodes');
  t.ok([...geometry.values()].every((g) => g.messages === 1), 'maximum_chunk_size 0: unchunked');
  const variableGeom = scene.find((u) => u.updateGeom?.payloadType === ArrayType.NODE_VARIABLE)!.updateGeom!;
  t.equal(Number(variableGeom.variableId), Number(variable.id));
});

await t.test('maximum_chunk_size splits geometry arrays; UPDATE sends the scene again', async (t) => {
  const stream = openStream(t);
  const chunkBytes = 4096;
  stream.call.write({ commandType: ClientCommandType.INIT, init: { maximumChunkSize: chunkBytes } });
  const scene = await readScene(stream);
  const geometry = joinGeometry(t, scene, chunkBytes / 4);
  t.ok([...geometry.values()].some((g) => g.messages > 1), 'arrays came in several chunks');
  const whole = await (async () => {
    const other = openStream(t);
    other.call.write({ commandType: ClientCommandType.INIT, init: { maximumChunkSize: 0 } });
    return joinGeometry(t, await readScene(other), Infinity);
  })();
  for (const [id, g] of geometry) t.strictSame(g.values, whole.get(id)!.values, `geom ${id} reassembles to the unchunked array`);

  emulator.stepAnimation();
  stream.call.write({ commandType: ClientCommandType.UPDATE, update: {} });
  const again = await readScene(stream);
  t.ok(Number(again[0]!.sceneBegin!.id) > Number(scene[0]!.sceneBegin!.id), 'a new scene id');
  t.not(JSON.stringify(again[4]!.updatePart!.matrix4x4), JSON.stringify(scene[4]!.updatePart!.matrix4x4), 'the part moved with the animation');
});

await t.test('allow_spontaneous: a scene change pushes a new scene', async (t) => {
  const stream = openStream(t);
  stream.call.write({ commandType: ClientCommandType.INIT, init: { allowSpontaneous: true } });
  await readScene(stream);
  emulator.rotateView(0, 30, 0);
  const pushed = await readScene(stream);
  t.equal(pushed[0]!.commandType, U.UPDATE_SCENE_BEGIN);
});
