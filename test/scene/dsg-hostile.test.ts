// A hostile DSG server (something we do not own: any server) sends malformed bytes, an array that
// claims a terabyte, a chunk outside its array: the client raises typed errors and allocates
// nothing for them.
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { tempDir } from '../support/temp.ts';
import { ArrayType, ClientCommandType, DynamicSceneGraphServiceDefinition, SceneUpdateCommandType as U, encodeSceneUpdate, type UpdateGeom } from '../../src/protocol/mod.ts';
import { DsgScene, DsgWireError, EnSightGRPC } from '../../src/mod.ts';

/** What the server answers the next INIT with. */
let script: Uint8Array[] = [];

const dir = tempDir(t);
const server = new grpc.Server();
const stream = DynamicSceneGraphServiceDefinition['GetSceneStream']!;
server.addService({ GetSceneStream: { ...stream, responseSerialize: (bytes: Uint8Array) => Buffer.from(bytes) } } as grpc.ServiceDefinition, {
  GetSceneStream: (call: grpc.ServerDuplexStream<unknown, Uint8Array>) => {
    const answer = script;
    call.once('data', () => {
      for (const bytes of answer) call.write(bytes);
    });
    call.on('error', () => {});
  },
});
const socket = join(dir, 'hostile');
await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}.sock`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
t.teardown(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
const client = new EnSightGRPC({ grpcUdsPathname: socket });
t.teardown(() => client.shutdown());
if (!(await client.connect({ timeoutMs: 20_000 }))) throw new Error('cannot connect to the hostile server');

const begin = encodeSceneUpdate({ commandType: U.UPDATE_SCENE_BEGIN, sceneBegin: { reset: true, id: 1 } });
function geom(g: Partial<UpdateGeom>): Uint8Array {
  return encodeSceneUpdate({
    commandType: U.UPDATE_GEOM,
    updateGeom: { id: 5, parentId: 4, payloadType: ArrayType.COORDINATES, variableId: 0, fltArray: Float32Array.of(1, 2, 3), intArray: new Uint32Array(0), chunkOffset: 0, totalArraySize: 3, hash: '', ...g },
  });
}

t.test('a message that does not decode ends the stream with DsgWireError', async (t) => {
  // UPDATE_GEOM whose flt_array holds 3 bytes
  script = [begin, Uint8Array.from([0x3a, 0x05, 0x2a, 0x03, 1, 2, 3])];
  const seen: number[] = [];
  await t.rejects(async () => {
    for await (const update of client.dynamicSceneGraphStream([{ commandType: ClientCommandType.INIT, init: {} }])) seen.push(update.commandType);
  }, DsgWireError);
  t.strictSame(seen, [U.UPDATE_SCENE_BEGIN], 'the good update before it arrived');
});

t.test('an array claiming 2^40 elements is refused before anything is allocated', async (t) => {
  script = [begin, geom({ totalArraySize: 2 ** 40 })];
  const scene = DsgScene.open(client);
  const rssBefore = process.memoryUsage().rss;
  await t.rejects(async () => {
    for await (const _ of scene) t.fail('no scene completes');
  }, { name: 'DsgSceneError', code: 'ARRAY_TOO_LARGE' });
  t.equal(scene.bytes, 0);
  t.equal(scene.arrays.size, 0);
  t.ok(process.memoryUsage().rss - rssBefore < 512 * 1024 * 1024, 'no terabyte, no gigabytes');
});

t.test('a chunk outside its array, or over the scene limit, is refused', async (t) => {
  script = [begin, geom({ totalArraySize: 6, chunkOffset: 0 }), geom({ totalArraySize: 6, chunkOffset: 4 })];
  const scene = DsgScene.open(client);
  await t.rejects(async () => {
    for await (const _ of scene) t.fail('no scene completes');
  }, { code: 'CHUNK_OUT_OF_BOUNDS' });
  t.equal(scene.arrays.get(5)?.complete, false, 'the first chunk is kept, the array is not complete');

  script = [begin, geom({ id: 5, totalArraySize: 3000 }), geom({ id: 6, totalArraySize: 3000 })];
  const small = DsgScene.open(client, { maxSceneBytes: 16_000 });
  await t.rejects(async () => {
    for await (const _ of small) t.fail('no scene completes');
  }, { code: 'SCENE_TOO_LARGE' });
  t.equal(small.bytes, 12_000, 'the first array only');
});
