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

await t.test('backpressure: 2000 commands from a client that never reads cost a bounded amount of memory', async (t) => {
  // A separate emulator with a larger scene (≈0.5 MB a pass): unbounded queuing would hold ~1 GB.
  const big = await inProcessEmulator(t, { dsgSceneSize: 20_000 });
  const bigClient = rawClient(t, big.address);
  const call = sceneStream<SceneClientCommand, SceneUpdateCommand>(t, bigClient, tokenMetadata(big.token));
  // A stalled consumer: one read starts grpc-js' flow (without any, grpc-js would buffer every
  // message itself), then nothing; its buffers fill, HTTP/2 flow control closes, the emulator waits.
  call.pause();
  call.read(0);
  const commands = 2000;
  const rssBefore = process.memoryUsage().rss;
  call.write({ commandType: ClientCommandType.INIT, init: { maximumChunkSize: 64 * 1024 } });
  for (let i = 1; i < commands; i++) call.write({ commandType: ClientCommandType.UPDATE, update: {} });
  const until = Date.now() + 60_000;
  while (big.emulator.dsgStats().commands < commands && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const stats = big.emulator.dsgStats();
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  t.equal(stats.commands, commands, 'every command arrived');
  // The client's own buffers (16 messages of up to 64 KiB) hold a pass or two before anything waits.
  t.ok(stats.passes <= 5, `passes begun: ${stats.passes} of ${commands} asked for`);
  t.ok(stats.passes + stats.merged >= commands - 1, 'the rest merged into one pending pass');
  t.ok(rssGrowth < 256 * 1024 * 1024, `memory grew ${(rssGrowth / 1e6).toFixed(0)} MB (< 256 MB; unbounded would be ~1 GB)`);

  // Reading again drains the stream: the current pass and the one pending, then nothing more.
  const ends: number[] = [];
  call.on('data', (u: SceneUpdateCommand) => {
    if (u.commandType === U.UPDATE_SCENE_END) ends.push(Number(u.sceneEnd!.id));
  });
  call.resume();
  const drained = Date.now() + 60_000;
  const settled = () => ends.length >= stats.passes && ends.length === big.emulator.dsgStats().passes;
  while (!settled() && Date.now() < drained) await new Promise((r) => setTimeout(r, 50));
  const after = big.emulator.dsgStats().passes;
  t.equal(ends.length, after, 'every begun pass completes once the client reads');
  t.ok(after <= stats.passes + 1, `afterwards ${after} passes: at most the one pending more, not the ${commands} asked for`);
});
