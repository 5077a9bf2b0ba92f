// subscribeImages({ useShmem: true }) against a server that is not our emulator: a gRPC server in
// the test tree answers SubscribeImages as EnSight does and writes the file with the independent
// producer (plain fs writes, the published layout, never a wake-up), in every variant of issue
// 10's table. Every frame not spoiled on purpose arrives byte-exact, in order, without fallback.
import t from '../harness/mod.ts';
import { EnSightGRPC, type ImageFrame } from '../../src/mod.ts';
import { nextWithin, tempDir } from '../support/emulator.ts';
import { startEnSightLikeServer } from '../shmem/fixtures/ensight-like-server.ts';
import { expectedFrames, VARIANTS } from '../shmem/fixtures/independent-variants.ts';
import { firstMismatch } from '../shmem/fixtures/pattern.ts';

for (const [name, variant] of Object.entries(VARIANTS)) {
  const fourK = name === 'blocks-offset0-last';
  const [width, height, count] = fourK ? [3840, 2160, 4] : [320, 240, 20];
  t.test(`subscribeImages against an EnSight-like server writing ${name}: every frame byte-exact`, async (t) => {
    const dir = tempDir(t);
    const server = await startEnSightLikeServer(dir, { variant: name, count, width, height });
    t.teardown(() => server.close());
    const c = new EnSightGRPC(server.clientOptions);
    t.teardown(() => c.shutdown());
    t.ok(await c.connect({ timeoutMs: 10_000 }), 'connected');
    const frames: ImageFrame[] = [];
    c.onImage((frame) => frames.push(frame));
    const it = c.images();
    t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory: dir }), { transport: 'shmem' }, 'no fallback');
    const expected = expectedFrames(variant, count);
    while (frames.length < expected.length) await nextWithin(it, 30_000, `frame ${frames.length + 1} of ${expected.length}`);
    let wrong = 0;
    for (const f of frames) if (f.width !== width || f.height !== height || firstMismatch(f.frameNumber, f.pixels) !== -1) wrong++;
    t.equal(wrong, 0, 'every frame byte-exact');
    t.strictSame(
      frames.map((f) => f.frameNumber),
      expected,
      'every frame not spoiled on purpose, in order',
    );
    await c.unsubscribe();
    const result = await server.producers[0]!.done;
    t.equal(result.code, 0, `the producer finished: ${result.stderr}`);
  });
}
