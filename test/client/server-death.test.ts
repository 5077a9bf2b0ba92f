// EnSight killed (SIGKILL) under subscriptions that have no call in flight: frames through shared
// memory, events through reverse gRPC. Without reconnect, the client notices (connection state and
// heartbeat), ends the iterators with UNAVAILABLE and says it is disconnected. (With reconnect the
// subscriptions are renewed: test/dial/client-reconnect.test.ts.)
import { existsSync } from 'node:fs';
import process from 'node:process';
import t from '../harness/mod.ts';
import { connectedClient, eventually, nextWithin, startEmulator, tempDir } from '../support/emulator.ts';

/** How the iterator ended within `ms` (a safety net: an unnoticed death never ends it). */
async function ending(it: AsyncIterator<unknown>, ms: number): Promise<unknown> {
  for (;;) {
    const r = await nextWithin(it, ms, 'the iterator to end').catch((err: unknown) => ({ err }));
    if ('err' in r) return r.err;
    if (r.done) return 'ended without an error';
  }
}

t.test('a killed EnSight ends a shared-memory subscription with UNAVAILABLE', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '320x240'] });
  const c = await connectedClient(t, emulator);
  const frames = c.images();
  t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory: tempDir(t) }), { transport: 'shmem' });
  await c.command('ensight.render()', { doEval: false });
  t.match((await nextWithin(frames, 30_000, 'a shared-memory frame')).value, { transport: 'shmem' }, 'frames flow');
  const file = c.sharedImageFile ?? '';
  t.ok(c.isConnected(), 'connected before the kill');
  process.kill(emulator.pid, 'SIGKILL');
  const err = await ending(frames, 30_000);
  t.match(err, { code: 'UNAVAILABLE' }, 'images() ends with UNAVAILABLE');
  t.equal(c.isConnected(), false, 'isConnected() is false');
  await eventually(() => !existsSync(file), 10_000, 'the shared file to be removed');
  t.notOk(existsSync(file), 'the shared file is removed');
  t.equal(c.sharedImageFile, undefined, 'and the subscription is gone');
});

t.test('a killed EnSight ends frames() over shared memory with UNAVAILABLE too; shutdown() then leaves no file', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '320x240'] });
  const c = await connectedClient(t, emulator);
  t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory: tempDir(t) }), { transport: 'shmem' });
  const file = c.sharedImageFile ?? '';
  await c.command('ensight.frame_rate(30)', { doEval: false });
  const views = c.frames();
  const first = await nextWithin(views, 30_000, 'a frames() view');
  t.match(first.value, { transport: 'shmem' }, 'views flow');
  first.value?.release();
  process.kill(emulator.pid, 'SIGKILL');
  const err = await ending(views, 30_000);
  t.match(err, { code: 'UNAVAILABLE' }, 'frames() ends with UNAVAILABLE, as images() does, not as a normal end');
  await c.shutdown();
  t.notOk(existsSync(file), 'the shared file is gone once shutdown() has resolved');
});

t.test('a killed EnSight ends a reverse-gRPC event subscription with UNAVAILABLE', async (t) => {
  const emulator = await startEmulator(t);
  const c = await connectedClient(t, emulator);
  const events = c.events();
  await c.subscribeEvents();
  process.kill(emulator.pid, 'SIGKILL');
  const err = await ending(events, 30_000);
  t.match(err, { code: 'UNAVAILABLE' }, 'events() ends with UNAVAILABLE');
  t.equal(c.isConnected(), false, 'isConnected() is false');
});
