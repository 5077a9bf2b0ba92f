/**
 * The consumer against a producer that shares none of our code (fixtures/independent-producer.ts:
 * plain fs writes, the published layout spelled out, never a wake-up), in every variant of issue
 * 10's table: header 1 at either reading, initial state 4 or 0, 4K in blocks with offset 0 last,
 * blocks that disagree, a bad header. Every frame not spoiled on purpose arrives byte-exact.
 */
import { tmpdir } from 'node:os';
import t from '../harness/mod.ts';
import { ShmemConsumer, type ShmemError } from '../../src/shmem/mod.ts';
import { startFixture, summaryOf } from './fixtures/child.ts';
import { expectedFrames, VARIANTS } from './fixtures/independent-variants.ts';
import { firstMismatch } from './fixtures/pattern.ts';

for (const [name, variant] of Object.entries(VARIANTS)) {
  const fourK = name === 'blocks-offset0-last';
  const [width, height, count] = fourK ? [3840, 2160, 6] : [320, 240, 30];
  t.test(`${name}: ${count} ${width}x${height} frames through ShmemConsumer.readFrame, byte-exact`, async (t) => {
    const errors: ShmemError[] = [];
    // Under the temp directory: Deno lets JS touch /dev/shm only with --allow-all.
    const consumer = ShmemConsumer.create({ directory: tmpdir(), onError: (error) => errors.push(error) });
    t.teardown(() => consumer.close());
    const child = startFixture('independent-producer', [name, consumer.path, String(count), String(width), String(height)]);
    const got: number[] = [];
    let wrong = 0;
    while (got.at(-1) !== count) {
      const image = await consumer.readFrame(undefined, { timeoutMs: 30_000 });
      if (!image) break;
      if (image.width !== width || image.height !== height || firstMismatch(image.frameNumber, image.pixels) !== -1) wrong++;
      got.push(image.frameNumber);
    }
    const result = await child.done;
    t.equal(result.code, 0, `the producer finished: ${result.stderr}`);
    const summary = summaryOf(result);
    t.equal(wrong, 0, 'every frame byte-exact, whole, with its own geometry');
    t.strictSame(got, expectedFrames(variant, count), 'every frame not spoiled on purpose, in order');
    const stats = consumer.stats();
    t.equal(stats.layout, variant.reading, `header 1 found at ${summary.header1}`);
    t.equal(stats.initialState, variant.initialState);
    t.equal(stats.attached, true, 'both buffers served');
    t.equal(stats.framesMixed, variant.mixedFrame ? 1 : 0);
    t.equal(stats.blocksRejected, variant.badFrame ? 1 : 0);
    t.equal(errors.length, variant.badFrame ? 1 : 0, 'onError saw each bad block');
    if (variant.badFrame) t.match(stats.lastError, { code: 'FRAME_TOO_LARGE' });
    if (fourK) t.equal(stats.blocksLocked, count * 2, '4K came as two blocks a frame');
  });
}
