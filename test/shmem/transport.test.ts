/**
 * The transport end to end, with the producer in a child process of the same runtime: handoff,
 * drops, scanline blocks, a producer killed mid-frame, zero-copy producing, flipping.
 */
import t from '../harness/mod.ts';
import { ShmemConsumer, ShmemProducer, type Frame } from '../../src/shmem/mod.ts';
import { startFixture, summaryOf } from './fixtures/child.ts';
import { fillPattern, firstMismatch, patternByte } from './fixtures/pattern.ts';

t.test('frames move from a producer process to the consumer intact and in order', async (t) => {
  const consumer = ShmemConsumer.create();
  t.teardown(() => consumer.close());
  const child = startFixture('producer', ['frames', consumer.path, '60', '64', '48']);
  const seen: number[] = [];
  let torn = 0;
  for await (const frame of consumer.frames({ timeoutMs: 10_000 })) {
    t.equal(frame.width, 64);
    t.equal(frame.height, 48);
    t.ok(frame.isWholeFrame);
    if (firstMismatch(frame.frameNumber, frame.pixels) !== -1) torn++;
    seen.push(frame.frameNumber);
    if (frame.frameNumber === 60) break;
  }
  const summary = summaryOf(await child.done);
  t.equal(torn, 0, 'no torn frame');
  t.ok(seen.length > 0 && seen.at(-1) === 60, 'the last frame arrived');
  t.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), 'frame numbers strictly increase');
  t.ok(summary.framesPublished! >= seen.length, 'nothing received that was not published');
  t.equal(summary.framesUnconnected, 0);
});

for (const [width, height] of [[64, 48], [3840, 2160]] as const) {
  t.test(`a producer that never wakes the consumer (${width}x${height}): every frame arrives intact, and the consumer notices`, async (t) => {
    const consumer = ShmemConsumer.create();
    t.teardown(() => consumer.close());
    const count = width > 1000 ? 8 : 40;
    const child = startFixture('producer', ['silent-paced', consumer.path, String(count), String(width), String(height), '5']);
    const seen: number[] = [];
    let torn = 0;
    // Whole frames: at 4K each comes in two scanline blocks, assembled by readFrame.
    while (seen.at(-1) !== count) {
      const frame = await consumer.readFrame(undefined, { timeoutMs: 10_000 });
      if (!frame) break;
      if (firstMismatch(frame.frameNumber, frame.pixels) !== -1) torn++;
      seen.push(frame.frameNumber);
    }
    const summary = summaryOf(await child.done);
    t.equal(torn, 0, 'no torn frame');
    t.strictSame(seen, Array.from({ length: count }, (_, i) => i + 1), 'every frame, in order');
    t.equal(summary.framesDropped, 0);
    const stats = consumer.stats();
    t.equal(stats.producerWakes, false, 'the consumer knows the producer does not wake it');
    t.ok(stats.unwokenBlocks > 0, `${stats.unwokenBlocks} blocks were found by looking`);
  });
}

t.test('a producer that wakes the consumer is trusted to', async (t) => {
  const consumer = ShmemConsumer.create({ pollIntervalMs: 30_000 });  // no wait can end on its timeout
  t.teardown(() => consumer.close());
  const child = startFixture('producer', ['every-frame', consumer.path, '20', '64', '48']);
  for await (const frame of consumer.frames({ timeoutMs: 10_000 })) if (frame.frameNumber === 20) break;
  summaryOf(await child.done);
  t.match(consumer.stats(), { producerWakes: true, unwokenBlocks: 0 });
});

t.test('a stalled consumer makes the producer drop frames, counted, and the rest still arrive in order', async (t) => {
  const consumer = ShmemConsumer.create();
  t.teardown(() => consumer.close());
  const child = startFixture('producer', ['frames', consumer.path, '200', '32', '32']);
  const held = await consumer.lock({ timeoutMs: 10_000 });
  t.ok(held, 'got a first frame');
  // Stall holding it: the producer fills the other buffer once, then has nowhere to write.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const numbers = [held!.frameNumber];
  t.equal(firstMismatch(held!.frameNumber, held!.pixels), -1);
  held!.unlock();
  for await (const frame of consumer.frames({ timeoutMs: 10_000 })) {
    numbers.push(frame.frameNumber);
    t.equal(firstMismatch(frame.frameNumber, frame.pixels), -1);
    if (frame.frameNumber === 200) break;
  }
  const summary = summaryOf(await child.done);
  t.ok(summary.framesDropped! > 0, `producer dropped ${summary.framesDropped} frames`);
  t.ok(numbers.length < 200, `consumer saw ${numbers.length} of 200`);
  t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), `in order: ${numbers.join(', ')}`);
  t.equal(numbers.at(-1), 200, 'the last frame came through');
});

t.test('3840x2160 RGB travels through the 25 MiB file as scanline blocks', async (t) => {
  const consumer = ShmemConsumer.create();
  t.teardown(() => consumer.close());
  t.equal(consumer.fileSize, 26_214_400);
  t.equal(consumer.payloadSize, 13_107_176);
  const child = startFixture('producer', ['frames', consumer.path, '3', '3840', '2160']);
  const blocks: Array<[number, number, number]> = [];
  let complete = 0;
  while (complete < 1) {
    const frame = await consumer.lock({ timeoutMs: 20_000 });
    if (!frame) break;
    blocks.push([frame.frameNumber, frame.offset, frame.numScanlines]);
    const first = frame.offset * frame.width * 3;
    t.equal(firstMismatch(frame.frameNumber, frame.pixels, first), -1, `block at ${frame.offset} intact`);
    if (frame.isLastBlock) complete++;
    frame.unlock();
  }
  t.match(blocks.slice(-2), [
    [Number, 0, 1137],
    [Number, 1137, 1023],
  ]);
  const image = await consumer.readFrame(undefined, { timeoutMs: 20_000 });
  t.ok(image, 'a whole frame assembled');
  if (image) {
    t.equal(image.pixels.length, 3840 * 2160 * 3);
    t.equal(firstMismatch(image.frameNumber, image.pixels), -1, 'assembled frame intact');
  }
  await child.done;
});

t.test('a producer killed mid-frame leaves no torn frame, and a new producer is served', async (t) => {
  const consumer = ShmemConsumer.create();
  t.teardown(() => consumer.close());
  const dying = startFixture('producer', ['die-mid-frame', consumer.path]);
  // Until attached or the child is gone: a loaded machine may take long to start the child.
  let exited = false;
  void dying.done.then(() => (exited = true));
  while (!consumer.attach() && !exited) await new Promise((resolve) => setTimeout(resolve, 2));
  const died = await dying.done;
  t.equal(died.signal, 'SIGKILL', 'the producer died');
  t.equal(await consumer.lock({ timeoutMs: 100 }), null, 'the half-written frame is never handed out');
  const next = startFixture('producer', ['frames', consumer.path, '5', '16', '16']);
  let last: Frame | null = null;
  const numbers: number[] = [];
  while ((last = await consumer.lock({ timeoutMs: 10_000 }))) {
    numbers.push(last.frameNumber);
    t.equal(firstMismatch(last.frameNumber, last.pixels), -1);
    last.unlock();
    if (numbers.at(-1) === 5) break;
  }
  t.equal(numbers.at(-1), 5, 'frames flow again after the restart');
  await next.done;
});

t.test('zero-copy producing: writeFrame lends blocks of the mapping, flipped copy-out', async (t) => {
  const consumer = ShmemConsumer.create({ size: 64 * 1024 });
  t.teardown(() => consumer.close());
  const producer = ShmemProducer.open(consumer.path);
  t.teardown(() => producer.close());
  consumer.attach();
  const width = 100;
  const height = 100; // 30,000 bytes: one block of n = 32,704
  const tall = 150; // 45,000 bytes: two blocks
  const offsets: number[] = [];
  const lent: Uint8Array[] = [];
  const pending = consumer.readFrame(undefined, { timeoutMs: 5000 });
  const result = producer.writeFrame(7, width, tall, (block) => {
    offsets.push(block.offset);
    lent.push(block.pixels);
    fillPattern(7, block.pixels, block.offset * width * 3);
  });
  t.equal(result, 'ok');
  t.strictSame(offsets, [0, Math.floor(consumer.payloadSize / (width * 3))]);
  t.ok(lent.every((view) => view.byteLength === 0), 'lent views are detached once published');
  const image = await pending;
  t.equal(image && firstMismatch(7, image.pixels), -1);

  const small = new Uint8Array(width * height * 3);
  fillPattern(8, small);
  t.equal(producer.putFrame(8, width, height, small), 'ok');
  const frame = consumer.tryLock();
  t.ok(frame);
  const out = frame!.copyTo(new Uint8Array(small.length), { flipVertical: true });
  frame!.unlock();
  const rowBytes = width * 3;
  t.equal(out[0], patternByte(8, (height - 1) * rowBytes), 'first row of the copy is the last row of the frame');
  t.equal(out[(height - 1) * rowBytes], patternByte(8, 0));
});

t.test('copies are handed out only whole: frames cut off after their first block are dropped, the rest arrive intact', async (t) => {
  // A 96 KiB file: two ~48 KiB buffers, so a 96x96 frame (27 KiB) fits a block and a 160x160 one
  // (75 KiB) takes two. A copy's memory is not zero-filled: a row it never got would show.
  const consumer = ShmemConsumer.create({ size: 96 * 1024 });
  t.teardown(() => consumer.close());
  const count = 12;
  const child = startFixture('producer', ['cut-frames', consumer.path, String(count), '160', '160']);
  const seen: number[] = [];
  let torn = 0;
  for (;;) {
    const image = await consumer.readFrame(undefined, { timeoutMs: 10_000 });
    if (!image) break;
    seen.push(image.frameNumber);
    if (image.pixels.byteLength !== 160 * 160 * 3 || firstMismatch(image.frameNumber, image.pixels) !== -1) torn++;
    if (image.frameNumber === count - 1) break;
  }
  t.strictSame(seen, [1, 3, 5, 7, 9, 11], 'every whole frame, none of the cut ones');
  t.equal(torn, 0, 'every byte of every copy is the frame\'s');
  t.equal(consumer.stats().framesIncomplete, 5, 'each cut frame (2 to 10) counted as incomplete once the next one began');
  const done = await child.done;
  t.equal(done.code, 0, done.stderr);
});
