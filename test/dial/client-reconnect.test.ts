// EnSightGRPC over dial(): with `reconnect`, the emulator killed (SIGKILL) and started again on the
// same address; the client's images() and events() iterators keep delivering (every frame
// verified by its stamp), streams and subscriptions come back, and the gap is counted.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { EnSightGRPC, type ConnectionState, type EnSightGRPCOptions, type ImageFrame, type StreamGap } from '../../src/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import { eventually, nextWithin } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';

const TOKEN = 'client-reconnect-token';

function clientOptions(emulator: FixedEmulator): EnSightGRPCOptions {
  return emulator.port === undefined
    ? { grpcUdsPathname: emulator.address.slice('unix:'.length, -'.sock'.length), securityToken: TOKEN }
    : { grpcUseTcpSockets: true, grpcDisableTls: true, port: emulator.port, securityToken: TOKEN };
}

function client(t: TestApi, options: EnSightGRPCOptions): EnSightGRPC {
  const c = new EnSightGRPC(options);
  t.teardown(() => c.shutdown());
  return c;
}

/** Render until a verified frame arrives; frames from before are skipped. */
async function renderedFrame(c: EnSightGRPC, frames: AsyncIterator<ImageFrame>, t: TestApi, what: string): Promise<number> {
  await c.command('ensight.render()', { doEval: false });
  const next = await nextWithin(frames, 15_000, what);
  if (next.done) throw new Error(`the image iterator ended (${what})`);
  const verdict = verifyFrame(next.value.pixels, next.value.width, next.value.height);
  t.ok(verdict.ok, `${what}: the frame verifies${verdict.ok ? '' : ` (${verdict.reason})`}`);
  return verdict.ok ? verdict.frameNumber : -1;
}

async function nextEvent(events: AsyncIterator<string>, what: string): Promise<string> {
  const next = await nextWithin(events, 15_000, what);
  if (next.done) throw new Error(`the event iterator ended (${what})`);
  return next.value;
}

for (const transport of ['tcp', 'uds'] as const) {
  t.test(`${transport}: streams and subscriptions survive a killed and restarted EnSight`, async (t) => {
    const emulator = await FixedEmulator.start(t, { transport, token: TOKEN, flags: ['--stream-size', '64x48'] });
    const states: ConnectionState[] = [];
    const gaps: StreamGap[] = [];
    const c = client(t, {
      ...clientOptions(emulator),
      reconnect: true,
      maxReconnectAttempts: Infinity,
      onConnectionState: (s) => states.push(s),
      onStreamResumed: (g) => gaps.push(g),
    });
    t.equal(await c.connect({ timeoutMs: 15_000 }), true);
    const frames = c.images();
    const events = c.events();
    c.imageStreamEnable();
    c.eventStreamEnable();
    await c.subscribeEvents();
    t.ok((await renderedFrame(c, frames, t, 'before the kill')) >= 1);
    t.match(await nextEvent(events, 'an event before the kill'), c.prefix());

    await emulator.kill();
    await eventually(() => states.some((s) => s.type === 'reconnecting'), 15_000, 'the loss to be noticed');
    t.equal(c.isConnected(), false, 'not connected during the gap');
    t.equal(c.imageStreamIsEnabled(), true, 'the image stream is still wanted');
    await emulator.launch();
    await eventually(() => c.stats().streamsResumed >= 3, 20_000, 'both streams and the subscription to come back');
    t.equal(c.isConnected(), true);

    // The restarted emulator numbers its frames from 1 again: proof they come from the new server.
    const after = await renderedFrame(c, frames, t, 'after the restart');
    t.equal(after, 1, 'the first frame of the restarted server, through the same iterator');
    const tags = new Set<string>();
    while (tags.size < 1) tags.add(await nextEvent(events, 'an event after the restart'));
    t.match([...tags][0], c.prefix(), 'events flow through the same iterator');
    t.equal(await c.command('6 * 7'), 42, 'calls work');

    const stats = c.stats();
    t.equal(stats.reconnects, 1);
    t.ok(stats.framesLostInReconnect >= 0 && stats.framesLostInReconnect <= 1, 'at most the frame in flight was lost');
    t.strictSame(gaps.map((g) => g.stream).sort(), ['events', 'events', 'images'], 'image stream, event stream, event subscription');
    t.ok(gaps.every((g) => g.gapMs >= 0));
    t.ok(states.some((s) => s.type === 'reconnected'));
  });
}

t.test('frames keep flowing from a free-running EnSight through a restart', async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN, flags: ['--stream-size', '64x48', '--frame-rate', '50'] });
  const c = client(t, { ...clientOptions(emulator), reconnect: true, maxReconnectAttempts: Infinity });
  t.equal(await c.connect({ timeoutMs: 15_000 }), true);
  const frames = c.images();
  c.imageStreamEnable({ chunk: true });
  const verified = async (n: number, what: string) => {
    for (let i = 0; i < n; i++) {
      const next = await nextWithin(frames, 15_000, what);
      if (next.done) throw new Error('ended');
      t.ok(verifyFrame(next.value.pixels, next.value.width, next.value.height).ok, `${what} ${i + 1} verifies`);
    }
  };
  await verified(3, 'before');
  await emulator.kill();
  await emulator.launch();
  await verified(3, 'after');
  t.equal(c.stats().reconnects, 1);
});

t.test('a shared-memory subscription is renewed on the same file after a restart', async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN, flags: ['--stream-size', '640x480'] });
  const c = client(t, { ...clientOptions(emulator), reconnect: true, maxReconnectAttempts: Infinity });
  t.equal(await c.connect({ timeoutMs: 15_000 }), true);
  const frames = c.images();
  t.strictSame(await c.subscribeImages({ useShmem: true }), { transport: 'shmem' });
  t.ok((await renderedFrame(c, frames, t, 'before the kill')) >= 1);
  await emulator.kill();
  await emulator.launch();
  await eventually(() => c.stats().streamsResumed >= 1, 20_000, 'the subscription to be renewed');
  // Renders until one lands: frames rendered before the reader re-attaches are dropped, as EnSight
  // drops frames for an unconnected client.
  let after: ImageFrame | undefined;
  for (let attempt = 0; !after && attempt < 10; attempt++) {
    await c.command('ensight.render()', { doEval: false });
    const next = await nextWithin(frames, 2_000, 'a frame after the restart').catch(() => undefined);
    if (next && !next.done) after = next.value;
  }
  if (!after) throw new Error('no shared-memory frame from the restarted server');
  t.equal(after.transport, 'shmem', 'still through shared memory');
  t.ok(verifyFrame(after.pixels, after.width, after.height).ok, 'the frame verifies');
});

t.test('giving up ends the iterators with an error and leaves the client disconnected', async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN });
  const states: ConnectionState[] = [];
  const c = client(t, { ...clientOptions(emulator), reconnect: true, maxReconnectAttempts: 2, onConnectionState: (s) => states.push(s) });
  t.equal(await c.connect({ timeoutMs: 15_000 }), true);
  const frames = c.images();
  c.imageStreamEnable();
  await emulator.kill();
  await t.rejects(nextWithin(frames, 30_000, 'the end of the iterator'), { code: 'CHANNEL_CLOSED' });
  t.match(states.find((s) => s.type === 'gave-up'), { attempts: 2 });
  t.equal(states[states.length - 1]?.type, 'closed');
  t.equal(c.isConnected(), false);
  t.equal(c.imageStreamIsEnabled(), false);
  await t.rejects(c.command('1'), { code: 'NOT_CONNECTED' });
});

t.test('without reconnect (the default) a lost server ends the streams, as in EnSight\'s client', async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN });
  const states: ConnectionState[] = [];
  const c = client(t, { ...clientOptions(emulator), onConnectionState: (s) => states.push(s) });
  t.equal(await c.connect({ timeoutMs: 15_000 }), true);
  const frames = c.images();
  c.imageStreamEnable();
  await emulator.kill();
  await t.rejects(nextWithin(frames, 15_000, 'the end of the iterator'), { code: 'UNAVAILABLE' });
  t.strictSame(states.map((s) => s.type), ['connecting', 'ready'], 'no reconnect events');
  t.equal(c.stats().reconnects, 0);
});
