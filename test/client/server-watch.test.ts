// The watch under a subscription sends its heartbeat only after an interval in which EnSight sent
// nothing outside a call: frames and callback calls count as signs of life. Against a real gRPC
// server (grpc-js, in this process) that counts the heartbeats it answers and can stop answering.
import * as grpc from '@grpc/grpc-js';
import t, { type TestApi } from '../harness/mod.ts';
import { dial } from '../../src/mod.ts';
import { ServerWatch } from '../../src/client/server-watch.ts';
import { DynamicSceneGraphServiceDefinition } from '../../src/protocol/mod.ts';
import { eventually } from '../support/emulator.ts';

interface HeartbeatServer {
  address: string;
  beats: number;
  /** Heartbeats are held unanswered from now on (a frozen host). */
  freeze(): void;
}

async function heartbeatServer(t: TestApi): Promise<HeartbeatServer> {
  const server = new grpc.Server();
  const state: HeartbeatServer = { address: '', beats: 0, freeze: () => void (frozen = true) };
  let frozen = false;
  server.addService(DynamicSceneGraphServiceDefinition, {
    GetAPIVersion(_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      state.beats++;
      if (!frozen) callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  state.address = `127.0.0.1:${port}`;
  t.teardown(() => server.forceShutdown());
  return state;
}

t.test('a heartbeat goes out only after an interval in which nothing came', async (t) => {
  const server = await heartbeatServer(t);
  const channel = await dial(server.address, { insecure: true, timeoutMs: 15_000, maxReconnectAttempts: 0 });
  t.teardown(() => channel.close());
  // READY before the watch starts: a channel that is not READY is checked at once.
  await new Promise<void>((resolve, reject) =>
    channel.client.waitForReady(Date.now() + 15_000, (err) => (err ? reject(err) : resolve())),
  );

  // Something came before every tick: the count grows each time the watch looks.
  let ticks = 0;
  let sending = true;
  let arrivals = 0;
  const heard = () => {
    ticks++;
    if (sending) arrivals++;
    return arrivals;
  };
  let gone: Error | undefined;
  const watch = new ServerWatch(channel, (err) => (gone = err), heard, { intervalMs: 20, heartbeatTimeoutMs: 500 });
  t.teardown(() => watch.stop());
  await eventually(() => ticks >= 20, 30_000, '20 ticks of the watch');
  t.equal(server.beats, 0, 'no heartbeat while EnSight keeps sending');

  // Nothing comes any more: the watch beats again.
  sending = false;
  await eventually(() => server.beats >= 3, 30_000, 'heartbeats once nothing comes');
  t.pass(`${server.beats} heartbeats once nothing came`);
  t.equal(gone, undefined, 'an answering server is not gone');

  // Frozen: the heartbeat that goes unanswered reports EnSight gone.
  server.freeze();
  await eventually(() => gone !== undefined, 30_000, 'the frozen server to be reported gone');
  t.match(gone, { code: 'UNAVAILABLE' }, 'a frozen server is gone, UNAVAILABLE');
});
