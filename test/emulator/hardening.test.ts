// The emulator as an attacker on this machine would probe it: which files SubscribeImages(SHARED_MEM)
// maps, where reverse-gRPC subscriptions may point and how many there may be, and what happens to
// shared-memory consumers that die or stall. Loopback only, bounded counts.
import * as grpc from '@grpc/grpc-js';
import { chownSync, closeSync, ftruncateSync, linkSync, mkdirSync, openSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import t, { type TestApi } from '../harness/mod.ts';
import { ImageChannelType, type GenericResponse } from '../../src/protocol/mod.ts';
import { verifyFrame } from '../../src/emulator/mod.ts';
import { SHMEM_MIN_FILE_BYTES } from '../../src/emulator/shmem-file-policy.ts';
import { DEFAULT_FILE_SIZE, ShmemConsumer } from '../../src/shmem/mod.ts';
import { WAIT_MS, inProcessEmulator, rawClient, tempDir, tokenMetadata, unary } from './support.ts';

const SHMEM = { type: ImageChannelType.SHARED_MEM };

function subscriber(client: grpc.Client, token: string) {
  const metadata = tokenMetadata(token);
  return {
    images: (prefix: string, options: Record<string, string>, extra: object = {}) =>
      unary<GenericResponse>(client, 'SubscribeImages', { prefix, options, ...extra }, metadata),
    events: (prefix: string, options: Record<string, string>) => unary<GenericResponse>(client, 'SubscribeEvents', { prefix, options }, metadata),
    unsubscribe: (prefix: string) => unary<GenericResponse>(client, 'Unsubscribe', { prefix }, metadata),
    ping: () => unary<{ value: string }>(client, 'RunPython', { type: 1, command: '1 + 1' }, metadata),
  };
}

/** A file of `size` zero bytes, as EnSight's clients create for a stream. */
function zeroFile(path: string, size = DEFAULT_FILE_SIZE): string {
  const fd = openSync(path, 'w', 0o600);
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

async function until(t: TestApi, what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > deadline) {
      t.fail(`${what}: not within ${WAIT_MS} ms`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.pass(what);
}

function consumer(t: TestApi, dir: string): ShmemConsumer {
  const c = ShmemConsumer.create({ directory: dir });
  t.teardown(() => c.close());
  return c;
}

await t.test('SHARED_MEM maps only a fresh stream file of the caller (the emulator user)', async (t) => {
  const { address, token } = await inProcessEmulator(t, { pythonOutput: 'ignore' });
  const sub = subscriber(rawClient(t, address), token);
  const dir = tempDir(t);
  const refused = async (filename: string, reason: RegExp, what: string) => {
    const err = (await sub.images('p/', { filename }, SHMEM).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError | undefined;
    t.equal(err?.code, grpc.status.FAILED_PRECONDITION, `${what}: FAILED_PRECONDITION`);
    t.match(err?.details ?? '', reason, `${what}: ${err?.details}`);
    t.notOk(/\b([A-Z_]{4,}): \1:/.test(err?.details ?? ''), `${what}: no code printed twice`);
  };
  await refused('relative/stream.bin', /must be absolute/, 'a relative path');
  mkdirSync(join(dir, 'real'));
  const real = zeroFile(join(dir, 'real', 'stream.bin'));
  await refused(`${dir}/real/../real/stream.bin`, /"\.\." components/, 'a path through ..');
  symlinkSync(join(dir, 'real'), join(dir, 'linked-dir'));
  await refused(join(dir, 'linked-dir', 'stream.bin'), /linked-dir is a symbolic link/, 'a symlinked directory');
  symlinkSync(real, join(dir, 'link.bin'));
  await refused(join(dir, 'link.bin'), /link\.bin is a symbolic link/, 'a symlink to a stream file');
  // Deno lets no program without --allow-all inspect /dev: the refusal then says so.
  await refused('/dev/null', 'Deno' in globalThis ? /it is a character device|\/dev: Requires all access/ : /it is a character device/, '/dev/null');
  await refused('/dev/null', /^(?![\s\S]*Is a directory)/, '/dev/null: no stale errno');
  await refused(dir, /it is a directory/, 'a directory');
  await refused(join(dir, 'absent.bin'), /no such file or directory/, 'a missing file');
  await refused(zeroFile(join(dir, 'small.bin'), SHMEM_MIN_FILE_BYTES - 1), /BAD_FILE_SIZE/, 'one byte under 10 MiB');
  linkSync(real, join(dir, 'hard.bin'));
  await refused(join(dir, 'hard.bin'), /2 hard links/, 'a hard link to another file');
  unlinkSync(join(dir, 'hard.bin'));
  const text = zeroFile(join(dir, 'text.bin'));
  const fd = openSync(text, 'r+');
  writeSync(fd, 'root:x:0:0:root:/root:/bin/bash\n');
  closeSync(fd);
  await refused(text, /header 0 holds/, 'a file with data in header 0');
  if (process.getuid?.() === 0) {
    const foreign = zeroFile(join(dir, 'foreign.bin'));
    chownSync(foreign, 65534, 65534);
    await refused(foreign, /owned by uid 65534, not by the emulator's uid 0/, "another user's file");
  }
  // The fresh file (and the same file again, its headers now in a stream state) is taken.
  t.match(await sub.images('p/', { filename: real }, SHMEM), { str: /go to/ }, 'a fresh zero-filled file is mapped');
  await sub.unsubscribe('p/');
  t.match(await sub.images('p/', { filename: real }, SHMEM), { str: /go to/ }, 'a file in a valid stream state is mapped again');
  await sub.unsubscribe('p/');
});

await t.test('subscriber URIs: loopback or Unix sockets only, valid ones only', async (t) => {
  const { address, token } = await inProcessEmulator(t, { pythonOutput: 'ignore' });
  const sub = subscriber(rawClient(t, address), token);
  for (const uri of ['http://127.0.0.1:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:99999', 'unix:relative.sock', 'a b:1', '[zz]:1', 'dns:///127.0.0.1:5', ':50051']) {
    await t.rejects(sub.events('e/', { uri }), { code: grpc.status.INVALID_ARGUMENT }, `"${uri}" is invalid`);
    await t.rejects(sub.images('i/', { uri }), { code: grpc.status.INVALID_ARGUMENT }, `"${uri}" is invalid (images)`);
  }
  for (const uri of ['192.0.2.1:50051', 'example.com:443', '[2001:db8::1]:50051', '0.0.0.0:5']) {
    await t.rejects(sub.images('i/', { uri }), { code: grpc.status.PERMISSION_DENIED, details: /--allow-remote-subscribers/ }, `"${uri}" is not loopback`);
  }
  for (const uri of ['127.0.0.1:1', '127.8.9.10:1', 'localhost:1', '[::1]:1', 'unix:/tmp/none.sock', 'unix:///tmp/none.sock']) {
    t.match(await sub.events('e/', { uri }), { str: /go to/ }, `"${uri}" is accepted`);
  }
  await sub.unsubscribe('e/');
  const open = await inProcessEmulator(t, { pythonOutput: 'ignore', allowRemoteSubscribers: true });
  const remote = subscriber(rawClient(t, open.address), open.token);
  t.match(await remote.images('i/', { uri: '192.0.2.1:50051' }), { str: /go to/ }, '--allow-remote-subscribers lets a remote one in');
  await t.rejects(remote.images('i/', { uri: 'http://x:1' }), { code: grpc.status.INVALID_ARGUMENT }, 'but never an invalid one');
  await remote.unsubscribe('i/');
});

await t.test('live subscriptions are capped per client and in total', async (t) => {
  const { address, token, emulator } = await inProcessEmulator(t, {
    pythonOutput: 'ignore',
    useTcpSockets: true,
    port: 0,
    disableTls: true,
    maxSubscriptionsPerClient: 3,
    maxSubscriptions: 5,
  });
  // Over TCP each connection is its own peer, hence its own client.
  const a = subscriber(rawClient(t, address), token);
  const b = subscriber(rawClient(t, address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }), token);
  const uri = '127.0.0.1:1';
  for (let i = 0; i < 3; i++) await a.events(`a${i}/`, { uri });
  await t.rejects(a.images('a3/', { uri }), { code: grpc.status.RESOURCE_EXHAUSTED, details: /per client/ }, "a client's 4th");
  t.match(await a.events('a0/', { uri }), { str: /go to/ }, 'replacing one of its own is fine');
  await b.images('b0/', { uri });
  await b.images('b1/', { uri });
  await t.rejects(b.events('b2/', { uri }), { code: grpc.status.RESOURCE_EXHAUSTED, details: /its limit/ }, 'the 6th of all');
  await a.unsubscribe('a1/');
  t.match(await b.events('b2/', { uri }), { str: /go to/ }, 'room again after an Unsubscribe');
  t.equal(emulator.stats().subscriptions, 5);
});

await t.test('a shared-memory subscription whose file was deleted is reaped and unmapped', async (t) => {
  const { address, token, emulator } = await inProcessEmulator(t, { pythonOutput: 'ignore', streamSize: { width: 64, height: 32 } });
  const sub = subscriber(rawClient(t, address), token);
  const c = consumer(t, tempDir(t));
  await sub.images('gone/', { filename: c.path }, SHMEM);
  c.attach();
  emulator.render();
  const frame = await c.lock({ timeoutMs: WAIT_MS });
  t.ok(frame && verifyFrame(frame.copy(), frame.width, frame.height).ok, 'frames flow first');
  frame?.unlock();
  unlinkSync(c.path);
  await until(t, 'the subscription is reaped once the file is gone', () => emulator.stats().reapedSubscriptions === 1);
  t.equal(emulator.stats().imageSinks, 0, 'and its sink is gone');
});

await t.test('a stuck consumer is reaped and never holds up the others, even with --shmem-wait-ms', async (t) => {
  // A minute's wait for a buffer: before, the producer waited on the event loop, so one consumer
  // that never reads stalled every other sink and call for that long.
  const { address, token, emulator } = await inProcessEmulator(t, {
    pythonOutput: 'ignore',
    streamSize: { width: 64, height: 32 },
    shmemWaitMs: 60_000,
    shmemReapMs: 500,
  });
  const sub = subscriber(rawClient(t, address), token);
  const dir = tempDir(t);
  const stuck = consumer(t, dir);
  const healthy = consumer(t, dir);
  await sub.images('stuck/', { filename: stuck.path }, SHMEM);
  await sub.images('healthy/', { filename: healthy.path }, SHMEM);
  stuck.attach();
  healthy.attach();
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    // The stuck consumer never locks: after two frames it owns both buffers.
    emulator.render();
    const frame = await healthy.lock({ timeoutMs: WAIT_MS });
    if (frame) seen.push(frame.frameNumber);
    frame?.unlock();
  }
  t.equal(seen.length, 4, `the healthy consumer got every frame (${seen.join(', ')})`);
  t.match(await sub.ping(), { value: '2' }, 'other calls are answered');
  await until(t, 'the stuck subscription is reaped', () => emulator.stats().reapedSubscriptions === 1);
  t.equal(emulator.stats().imageSinks, 1, 'the healthy one stays');
  emulator.render();
  const after = await healthy.lock({ timeoutMs: WAIT_MS });
  t.ok(after, 'and still gets frames');
  after?.unlock();
});

await t.test('the minimum file size is 10 MiB, EnSight\'s BAD_FILE_SIZE bound', async (t) => {
  t.equal(SHMEM_MIN_FILE_BYTES, 10 * 1024 * 1024);
  const { address, token } = await inProcessEmulator(t, { pythonOutput: 'ignore', streamSize: { width: 16, height: 8 } });
  const sub = subscriber(rawClient(t, address), token);
  t.match(await sub.images('min/', { filename: zeroFile(join(tempDir(t), 'min.bin'), SHMEM_MIN_FILE_BYTES) }, SHMEM), { str: /go to/ }, 'exactly 10 MiB is enough');
});
