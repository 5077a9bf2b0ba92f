// The producer's native block fill: each loaned block copied from its place in a whole frame,
// bounds-checked against the source.
import t from '../harness/mod.ts';
import { ShmemConsumer, ShmemError, ShmemProducer } from '../../src/shmem/mod.ts';
import { tempDir } from '../support/temp.ts';

t.test('copyFrom fills each block from its rows of the source frame', async (t) => {
  using consumer = ShmemConsumer.create({ directory: tempDir(t) });
  using producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  // Frame numbers always increase (EnSight's headers): a repeated one would be a stale duplicate.
  for (const [frameNumber, w, h] of [[7, 640, 480], [8, 3840, 2160]] as const) {
    const frame = new Uint8Array(w * h * 3);
    for (let i = 0; i < frame.length; i += 4093) frame[i] = (i / 4093) & 0xff;
    frame[frame.length - 1] = 0xab;
    let blocks = 0;
    const copied = new Uint8Array(frame.length);
    const reading = (async () => {
      for (let done = false; !done; ) {
        const image = await consumer.readFrame(copied, { timeoutMs: 5000 });
        if (!image) throw new Error('no frame');
        done = true;
      }
    })();
    const result = producer.writeFrame(frameNumber, w, h, (block) => {
      blocks++;
      block.copyFrom(frame, block.offset * w * 3);
    }, { waitMs: 1000 });
    t.equal(result, 'ok');
    await reading;
    t.equal(blocks, w === 640 ? 1 : 2, `${w}x${h}: ${blocks} block(s)`);
    t.ok(copied.every((v, i) => v === frame[i]), `${w}x${h}: every byte arrived`);
  }
});

t.test('copyFrom refuses a source that is too short, and the block is abandoned', async (t) => {
  using consumer = ShmemConsumer.create({ directory: tempDir(t) });
  using producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  const err = t.throws(() => producer.writeFrame(1, 64, 48, (block) => block.copyFrom(new Uint8Array(100))), { code: 'BAD_ARGS' });
  t.ok(err instanceof ShmemError, 'a typed ShmemError');
  t.equal(consumer.tryLock(), null, 'nothing was published');
  t.equal(producer.putFrame(2, 64, 48, new Uint8Array(64 * 48 * 3)), 'ok', 'the producer goes on');
});
