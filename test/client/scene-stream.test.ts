// dynamicSceneGraphStream is a lazy generator: no call before the first next(), the call cancelled
// when the iteration ends, and an abort ends the iteration with its reason whatever it waits for
// (the next update, or room to send the next command). Observed from the server side: the
// emulator's DSG counters, and a server of our own that never reads what it is sent.
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { EnSightGRPC, protocol } from '../../src/mod.ts';
import { inProcessEmulator } from '../emulator/support.ts';
import { eventually, tempDir } from '../support/emulator.ts';

const INIT: protocol.SceneClientCommand = { commandType: protocol.ClientCommandType.INIT, init: {} };

const { emulator, token, dir } = await inProcessEmulator(t);
const client = new EnSightGRPC({ grpcUdsPathname: join(dir, 'ensight'), securityToken: token });
t.teardown(() => client.shutdown());
if (!(await client.connect({ timeoutMs: 20_000 }))) throw new Error('cannot connect to the emulator');

/** Pulls updates until the end of the first scene. */
async function throughFirstScene(updates: AsyncIterator<protocol.SceneUpdateCommand>): Promise<void> {
  for (;;) {
    const next = await updates.next();
    if (next.done) throw new Error('the stream ended before the first scene did');
    if (next.value.updateCommand === 'sceneEnd') return;
  }
}

t.test('a stream never iterated opens no call; one left early is cancelled', async (t) => {
  // Commands that do not end, so that an open stream stays open on the server (the emulator ends
  // a stream whose client has half-closed).
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  t.teardown(() => release());
  async function* initThenHold(): AsyncGenerator<protocol.SceneClientCommand> {
    yield INIT;
    await released;
  }
  const before = emulator.dsgStats();
  const idle = client.dynamicSceneGraphStream(initThenHold());
  // A second stream, opened after the first on the same connection, served a whole scene.
  const updates = client.dynamicSceneGraphStream(initThenHold())[Symbol.asyncIterator]();
  await throughFirstScene(updates);
  const during = emulator.dsgStats();
  t.equal(during.streams, before.streams + 1, 'one stream open on the server: the iterated one');
  t.equal(during.commands, before.commands + 1, 'one INIT received: the idle stream sent nothing');
  await updates.return?.();
  await eventually(() => emulator.dsgStats().streams === before.streams, 20_000, 'the left stream to close on the server');
  t.equal(emulator.dsgStats().streams, before.streams, 'cancelled when the iteration ended');
  t.ok(idle, 'the idle stream still exists, unopened');
});

t.test('an abort while waiting for the next update ends the iteration with the abort reason', async (t) => {
  const before = emulator.dsgStats().streams;
  const ac = new AbortController();
  const updates = client.dynamicSceneGraphStream([INIT], { signal: ac.signal })[Symbol.asyncIterator]();
  await throughFirstScene(updates);
  // No spontaneous updates were asked for: this waits until the abort.
  const waiting = updates.next();
  const reason = new Error('the caller is done with the scene');
  ac.abort(reason);
  t.equal(await waiting.catch((err: unknown) => err), reason, 'rejects with the reason itself');
  t.strictSame(await updates.next(), { value: undefined, done: true }, 'the iteration is over');
  await eventually(() => emulator.dsgStats().streams === before, 20_000, 'the call to be cancelled on the server');
});

t.test('an aborted signal before the first next() opens nothing', async (t) => {
  const before = emulator.dsgStats();
  const ac = new AbortController();
  const reason = new Error('never mind');
  ac.abort(reason);
  const updates = client.dynamicSceneGraphStream([INIT], { signal: ac.signal })[Symbol.asyncIterator]();
  t.equal(await updates.next().catch((err: unknown) => err), reason);
  // A stream opened since, served a scene: the aborted one never reached the server before it.
  const probe = client.dynamicSceneGraphStream([INIT])[Symbol.asyncIterator]();
  await throughFirstScene(probe);
  t.equal(emulator.dsgStats().commands, before.commands + 1, 'only the probe INIT arrived');
  await probe.return?.();
});

t.test('an abort while the server holds the commands back ends the iteration and the command source', async (t) => {
  // A server that takes the stream and never reads it: HTTP/2 flow control stops the commands.
  const sockets = tempDir(t);
  const held: grpc.ServerDuplexStream<unknown, unknown>[] = [];
  const server = new grpc.Server();
  server.addService(protocol.DynamicSceneGraphServiceDefinition, {
    GetSceneStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      held.push(call);
      call.on('error', () => {});
    },
  });
  const socket = join(sockets, 'never-reads');
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}.sock`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  t.teardown(() => server.forceShutdown());
  const stalled = new EnSightGRPC({ grpcUdsPathname: socket });
  t.teardown(() => stalled.shutdown());
  t.ok(await stalled.connect({ timeoutMs: 20_000 }), 'connected');

  let produced = 0;
  let sourceClosed = false;
  async function* endless(): AsyncGenerator<protocol.SceneClientCommand> {
    try {
      yield INIT;
      for (;;) {
        produced++;
        yield { commandType: protocol.ClientCommandType.UPDATE, update: {} };
      }
    } finally {
      sourceClosed = true;
    }
  }
  const ac = new AbortController();
  const updates = stalled.dynamicSceneGraphStream(endless(), { signal: ac.signal })[Symbol.asyncIterator]();
  const waiting = updates.next();
  await eventually(() => held.length === 1, 20_000, 'the server to take the call');
  // A gate, not a measurement: once the count stops moving, the sender waits for the window (the
  // assertions below hold wherever the abort lands).
  for (let last = -1, i = 0; produced !== last && i < 300; i++) {
    last = produced;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const reason = new Error('stop sending');
  ac.abort(reason);
  t.equal(await waiting.catch((err: unknown) => err), reason, 'the iteration ends with the reason');
  await eventually(() => sourceClosed, 20_000, 'the command source to be closed');
  t.ok(sourceClosed, 'the commands iterable was returned, not left waiting on a drain');
});
