/**
 * Everything that must fail cleanly: unusable and hostile files, a file truncated under the
 * mapping, use of frames after unlock and of streams after close; and an idle consumer that must
 * not burn CPU.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { ShmemConsumer, ShmemError, ShmemProducer, zeroCopyAvailable } from '../../src/shmem/mod.ts';
import { fillPattern, firstMismatch } from './fixtures/pattern.ts';

// Tests that touch the file from JS keep it under the temp directory: Deno refuses fs calls on
// /dev paths without --allow-all.
const directory = tmpdir();

function pair(size: number): { consumer: ShmemConsumer; producer: ShmemProducer } {
  const consumer = ShmemConsumer.create({ size, directory });
  const producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  return { consumer, producer };
}

t.test('the created file: private directory 0700, file 0600, removed on close', async (t) => {
  const preferred = ShmemConsumer.create({ size: 8192 });
  t.match(preferred.path, /^\/dev\/shm\/ensight-shmem-[^/]+\/shmem_\d+\.bin$/, 'on /dev/shm by default');
  preferred.close();
  const consumer = ShmemConsumer.create({ directory });
  const path = consumer.path;
  const dir = path.slice(0, path.lastIndexOf('/'));
  t.match(path, new RegExp(`/shmem_${process.pid}\\.bin$`));
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(path).size, 26_214_400);
  consumer.close();
  t.throws(() => statSync(path), /ENOENT/);
  t.throws(() => statSync(dir), /ENOENT/);
});

t.test('unusable files are typed errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmem-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => ShmemConsumer.open(join(dir, 'missing.bin')), { code: 'UNABLE_TO_OPEN_FILE', status: -4 });
  const small = join(dir, 'small.bin');
  writeFileSync(small, new Uint8Array(100));
  t.throws(() => ShmemConsumer.open(small), { code: 'BAD_FILE_SIZE', status: -3 });
  t.throws(() => ShmemProducer.open(small), { code: 'BAD_FILE_SIZE', status: -3 });
  const good = join(dir, 'good.bin');
  writeFileSync(good, new Uint8Array(8192));
  const link = join(dir, 'link.bin');
  symlinkSync(good, link);
  t.throws(() => ShmemConsumer.open(link), { code: 'UNABLE_TO_OPEN_FILE' }, 'symlinks are not followed');
  mkdirSync(join(dir, 'sub'));
  t.throws(() => ShmemConsumer.open(join(dir, 'sub')), { code: 'UNABLE_TO_OPEN_FILE' });
  t.throws(() => ShmemConsumer.create({ size: 10 }), ShmemError);
  t.throws(() => ShmemConsumer.create({ size: 10 }), { code: 'BAD_FILE_SIZE' });
});

t.test('a hostile header is refused with FRAME_TOO_LARGE and the buffer handed back', async (t) => {
  const { consumer, producer } = pair(8192);
  t.teardown(() => (consumer.close(), producer.close()));
  t.equal(producer.putFrame(1, 8, 8, new Uint8Array(8 * 8 * 3)), 'ok');
  const fd = openSync(consumer.path, 'r+');
  writeSync(fd, new Uint32Array([0xffffffff]), 0, 4, 4); // buffer 0's width
  closeSync(fd);
  t.throws(() => consumer.tryLock(), { code: 'FRAME_TOO_LARGE', status: -10 });
  t.equal(consumer.stats().blocksRejected, 1);
  t.equal(producer.putFrame(2, 8, 8, new Uint8Array(8 * 8 * 3)), 'ok', 'the rejected buffer went back to the producer');
  t.throws(() => producer.putFrame(3, 8, 8, new Uint8Array(10)), { code: 'BAD_ARGS' });
  t.throws(() => producer.putFrame(3, 5000, 1, new Uint8Array(15000)), { code: 'FRAME_TOO_LARGE' });
});

t.test('a file truncated while a zero-copy view is read: zeros, then BAD_FILE_SIZE, no crash', async (t) => {
  const { consumer, producer } = pair(1 << 20);
  t.teardown(() => (consumer.close(), producer.close()));
  const pixels = new Uint8Array(400 * 400 * 3);
  fillPattern(1, pixels);
  producer.putFrame(1, 400, 400, pixels);
  const frame = consumer.tryLock()!;
  const view = frame.pixels;
  t.equal(firstMismatch(1, view), -1);
  truncateSync(consumer.path, 4096);
  t.equal(view[view.length - 1], 0, 'reading past the new end gives zeros instead of SIGBUS');
  t.throws(() => consumer.tryLock(), { code: 'BAD_FILE_SIZE' });
  await t.rejects(consumer.lock({ timeoutMs: 100 }), { code: 'BAD_FILE_SIZE' });
  t.throws(() => producer.putFrame(2, 400, 400, pixels), { code: 'BAD_FILE_SIZE' });
  frame.unlock();
});

t.test('frames after unlock and streams after close are dead, their views detached', async (t) => {
  const { consumer, producer } = pair(8192);
  t.teardown(() => producer.close());
  const pixels = new Uint8Array(4 * 4 * 3).fill(9);
  producer.putFrame(1, 4, 4, pixels);
  const frame = consumer.tryLock()!;
  const view = frame.pixels;
  t.equal(view[0], 9);
  frame.unlock();
  t.equal(view.byteLength, 0, 'the view is detached at unlock');
  t.equal(view[0], undefined);
  t.throws(() => frame.pixels, { code: 'NOT_LOCKED', status: -2 });
  t.throws(() => frame.copyTo(new Uint8Array(48)), { code: 'NOT_LOCKED' });
  t.throws(() => frame.unlock(), { code: 'NOT_LOCKED' });
  t.throws(() => frame.copyTo(new Uint8Array(1)), { code: 'NOT_LOCKED' });

  producer.putFrame(2, 4, 4, pixels);
  const held = consumer.tryLock()!;
  t.throws(() => held.copyTo(new Uint8Array(10)), { code: 'BAD_ARGS' }, 'a target too small is refused');
  const heldView = held.pixels;
  const waiting = consumer.lock();
  consumer.close();
  await t.rejects(waiting, { code: 'UNCONNECTED' }, 'a pending wait rejects on close');
  t.equal(heldView.byteLength, 0, 'views are detached on close');
  t.notOk(held.locked);
  t.throws(() => held.pixels, { code: 'NOT_LOCKED' });
  t.throws(() => consumer.tryLock(), { code: 'UNCONNECTED' });
  consumer.close();
  t.pass('close is idempotent');
});

t.test('zeroCopy: false hands out copies that outlive the lock', async (t) => {
  const consumer = ShmemConsumer.create({ size: 8192, zeroCopy: false });
  const producer = ShmemProducer.open(consumer.path);
  t.teardown(() => (consumer.close(), producer.close()));
  consumer.attach();
  producer.putFrame(1, 2, 2, new Uint8Array(12).fill(5));
  const frame = consumer.tryLock()!;
  const copy = frame.pixels;
  frame.unlock();
  t.equal(copy.byteLength, 12);
  t.equal(copy[11], 5);
});

async function cpuShareWhile(wait: () => unknown): Promise<number> {
  const before = process.cpuUsage();
  const started = performance.now();
  await wait();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / (performance.now() - started);
}

t.test('an idle consumer sleeps: far below a busy loop while waiting ~1 s', async (t) => {
  const consumer = ShmemConsumer.create({ size: 8192 });
  t.teardown(() => consumer.close());
  const asyncShare = await cpuShareWhile(() => consumer.lock({ timeoutMs: 1000 }));
  t.ok(asyncShare < 0.2, `async wait used ${(asyncShare * 100).toFixed(1)} % of a core`);
  const syncShare = await cpuShareWhile(() => consumer.waitLock(1000));
  t.ok(syncShare < 0.2, `sync wait used ${(syncShare * 100).toFixed(1)} % of a core`);
});

t.test('detachViews: false makes one view per buffer of the mapping, correct for every frame, dropped at close', async (t) => {
  const consumer = ShmemConsumer.create({ size: 64 * 1024, directory, detachViews: false });
  const producer = ShmemProducer.open(consumer.path, { detachViews: false });
  t.teardown(() => producer.close());
  consumer.attach();
  const buffersSeen = new Map<number, ArrayBufferLike>();
  const lentBuffers = new Set<ArrayBufferLike>();
  let sameView = true;
  let wrong = 0;
  for (let f = 1; f <= 6; f++) {
    const result = producer.writeFrame(f, 40, 30, (block) => {
      lentBuffers.add(block.pixels.buffer);
      fillPattern(f, block.pixels);
    });
    t.equal(result, 'ok');
    const frame = consumer.tryLock()!;
    const view = frame.pixels;
    if (firstMismatch(f, view) !== -1 || view.byteLength !== 40 * 30 * 3) wrong++;
    const known = buffersSeen.get(frame.buffer);
    if (known && known !== view.buffer) sameView = false;
    buffersSeen.set(frame.buffer, view.buffer);
    frame.unlock();
    t.equal(view.byteLength, 40 * 30 * 3, 'not detached at unlock');
    t.throws(() => frame.pixels, { code: 'NOT_LOCKED' }, 'the frame itself is still dead after unlock');
  }
  t.equal(wrong, 0, 'every frame read right through the shared views');
  if (zeroCopyAvailable()) {
    t.ok(sameView, 'frames in one buffer share its view');
    t.equal(buffersSeen.size, 2, 'both buffers used');
    t.equal(lentBuffers.size, 2, 'the producer lent one view per buffer');
  }
  const kept = [...buffersSeen.values()];
  consumer.close();
  if (zeroCopyAvailable()) t.ok(kept.every((b) => b.byteLength === 0), 'the views are detached at close');
});

t.test('a restarted producer numbers frames afresh: readFrame follows it after the re-initialisation', async (t) => {
  const { consumer, producer } = pair(64 * 1024);
  t.teardown(() => consumer.close());
  const pixels = new Uint8Array(20 * 10 * 3);
  const got: number[] = [];
  const publishAndRead = async (p: ShmemProducer, from: number, to: number) => {
    for (let f = from; f <= to; f++) {
      fillPattern(f, pixels);
      t.equal(p.putFrame(f, 20, 10, pixels), 'ok');
      const image = await consumer.readFrame(undefined, { timeoutMs: 5000 });
      if (image && firstMismatch(image.frameNumber, image.pixels) === -1) got.push(image.frameNumber);
    }
  };
  await publishAndRead(producer, 5, 8);
  producer.close();
  const restarted = ShmemProducer.open(consumer.path); // initialises the file again: state 4
  t.teardown(() => restarted.close());
  consumer.attach();
  await publishAndRead(restarted, 1, 3);
  t.strictSame(got, [5, 6, 7, 8, 1, 2, 3]);
});
