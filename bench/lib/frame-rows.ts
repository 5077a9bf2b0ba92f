/**
 * The user-facing frame API as a bench row: `EnSightGRPC.frames()` over the shared-memory
 * subscription, next to the raw zero-copy rows that drive the addon directly. The consumer's
 * code does what theirs does: reads each block in place (first and last byte) and releases it.
 *
 * `client-frames` sizes the file as the raw rows do (`frameSize`: two whole frames), so the two
 * compare the API and not the file. `client-frames-25mib` keeps EnSight's default 25 MiB file,
 * where a 4K frame comes in two blocks: a frame view holds both buffers until it is released
 * (it is the whole frame, in place), so EnSight cannot write the next frame's first block while
 * the consumer reads this one, whereas a raw reader hands each block back as it goes.
 */
import type { FrameView } from '../../src/mod.ts';
import type { Transport } from './transports.ts';

function clientFrames(name: string, sizedFile: boolean): Transport {
  return {
    name,
    publishKind: 'shmem',
    async open(session, size) {
      const client = await session.client();
      const subscription = await client.subscribeImages({ useShmem: true, ...(sizedFile ? { frameSize: size } : {}) });
      if (subscription.transport !== 'shmem') {
        await client.shutdown();
        throw new Error(`bench: shared memory refused: ${subscription.fallbackReason}`);
      }
      const frames = client.frames();
      // A next() still waiting when a run's time is up is picked up by the next run.
      let pending: Promise<IteratorResult<FrameView>> | undefined;
      let sink = 0;
      return {
        async run(seen, until) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), Math.max(0, until - performance.now()))));
          try {
            while (performance.now() < until) {
              pending ??= frames.next();
              const next = await Promise.race([pending, deadline]);
              if (next === 'deadline') break;
              pending = undefined;
              if (next.done) throw new Error('bench: frames() ended');
              const frame = next.value;
              for (const block of frame.blocks) sink ^= block.pixels[0]! ^ block.pixels[block.pixels.length - 1]!;
              seen.saw(frame.frameNumber, frame.width * frame.height * 3);
              frame.release();
            }
          } finally {
            clearTimeout(timer);
          }
          void sink;
        },
        async close() {
          await client.shutdown();
          await frames.return(undefined);
        },
      };
    },
  };
}

export const FRAME_TRANSPORTS: Transport[] = [clientFrames('client-frames', true), clientFrames('client-frames-25mib', false)];
