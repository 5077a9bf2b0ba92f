/**
 * The frame pool behind `readFrame()` without a target (what EnSightGRPC's onImage, images() and
 * getImage() hand out): every copy is the caller's alone and stays intact whatever comes after
 * (later frames, close()); the pool never owns more than its limit; blocks the runtime has
 * collected are lent again. Frames come from a producer process that drops none.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import t from '../harness/mod.ts';
import { DEFAULT_FRAME_POOL_BYTES, ShmemConsumer, type ShmemFrameCopy } from '../../src/shmem/mod.ts';
import { startFixture, summaryOf } from './fixtures/child.ts';
import { firstMismatch } from './fixtures/pattern.ts';

const WIDTH = 64;
const HEIGHT = 48;

/** Reads frames 1..count with readFrame(undefined), handing each to `each`. */
async function readAll(consumer: ShmemConsumer, count: number, each: (image: ShmemFrameCopy) => void | Promise<void>): Promise<void> {
  const child = startFixture('producer', ['every-frame', consumer.path, String(count), String(WIDTH), String(HEIGHT)]);
  for (let n = 1; n <= count; n++) {
    const image = await consumer.readFrame(undefined, { timeoutMs: 30_000 });
    if (!image) throw new Error(`frame ${n} of ${count} did not come`);
    await each(image);
  }
  summaryOf(await child.done);
}

/** Frame numbers among `copies` whose bytes are not their frame's. */
function spoiled(copies: ShmemFrameCopy[]): number[] {
  return copies.filter((c) => c.width !== WIDTH || c.height !== HEIGHT || firstMismatch(c.frameNumber, c.pixels) !== -1).map((c) => c.frameNumber);
}

/** A full garbage collection, where the runtime lets a test ask for one. */
function collector(): (() => void) | undefined {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun) return () => bun.gc(true);
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // not exposed in this runtime
  }
  return undefined;
}

/** Pooled whatever this runtime's default (see DEFAULT_FRAME_POOL_BYTES). */
const POOLED = 16 * 1024 * 1024;

t.test('copies from readFrame() are the caller\'s: kept across later frames and close(), each stays byte-exact', async (t) => {
  const consumer = ShmemConsumer.create({ size: 64 * 1024, framePoolBytes: POOLED });
  t.teardown(() => consumer.close());
  const kept: ShmemFrameCopy[] = [];
  await readAll(consumer, 40, (image) => void kept.push(image));
  t.strictSame(
    kept.map((c) => c.frameNumber),
    Array.from({ length: 40 }, (_, i) => i + 1),
    'every frame, in order',
  );
  t.strictSame(spoiled(kept), [], 'every kept copy still holds its own frame after 40 more arrived');
  t.equal(new Set(kept.map((c) => c.pixels.buffer)).size, kept.length, 'no two copies share memory');
  const pool = consumer.stats().framePool;
  t.ok(pool.blocksMapped > 0 && pool.lentBlocks > 0, `the copies came from the pool (${JSON.stringify(pool)})`);
  consumer.close();
  t.strictSame(spoiled(kept), [], 'and after the consumer is closed');
  kept[0]!.pixels.fill(1);
  t.strictSame(spoiled(kept.slice(1)), [], 'writing one copy changes no other');
});

t.test('the pool never owns more than framePoolBytes: past it copies go to plain memory, all intact', async (t) => {
  const limit = 5 * 16 * 1024; // a few 64x48 frames (9 KiB each, page-rounded) and no more
  const consumer = ShmemConsumer.create({ size: 64 * 1024, framePoolBytes: limit });
  t.teardown(() => consumer.close());
  const kept: ShmemFrameCopy[] = [];
  let overLimit = 0;
  await readAll(consumer, 30, (image) => {
    kept.push(image);
    const pool = consumer.stats().framePool;
    if (pool.ownedBytes > limit || pool.capBytes !== limit) overLimit++;
  });
  const pool = consumer.stats().framePool;
  t.equal(overLimit, 0, 'owned bytes within the limit after every frame');
  t.ok(pool.lentBlocks > 0 && pool.ownedBytes <= limit, `some copies in pool blocks, no more than fit (${JSON.stringify(pool)})`);
  t.equal(pool.lendsRefused, 30 - pool.lentBlocks, 'the others refused: all 30 are still kept');
  t.strictSame(spoiled(kept), [], 'every kept copy intact, pooled or not');

  const none = ShmemConsumer.create({ size: 64 * 1024, framePoolBytes: 0 });
  t.teardown(() => none.close());
  const plain: ShmemFrameCopy[] = [];
  await readAll(none, 5, (image) => void plain.push(image));
  t.equal(none.stats().framePool.blocksMapped, 0, 'framePoolBytes 0: no pool');
  const defaulted = ShmemConsumer.create({ size: 64 * 1024 });
  t.equal(defaulted.stats().framePool.capBytes, DEFAULT_FRAME_POOL_BYTES, "this runtime's default limit when none is given");
  defaulted.close();
  t.strictSame(spoiled(plain), [], 'and the copies are right');
});

const gc = collector();
t.test('blocks of copies the runtime collected are lent again', { skip: gc ? false : 'this runtime gives a test no way to force a collection' }, async (t) => {
  if (!gc) return;
  const consumer = ShmemConsumer.create({ size: 64 * 1024, framePoolBytes: POOLED });
  t.teardown(() => consumer.close());
  let wrong = 0;
  await readAll(consumer, 30, async (image) => {
    if (firstMismatch(image.frameNumber, image.pixels) !== -1) wrong++;
    // Dropped here; collected, and (Node) finalized on a later turn of the event loop.
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  });
  const pool = consumer.stats().framePool;
  t.equal(wrong, 0, 'every frame right');
  t.ok(pool.blocksMapped < 30, `fewer blocks mapped than frames read: blocks were reused (${JSON.stringify(pool)})`);
});
