/**
 * The bench's producer process: free-runs frames of one size through the stream for a while,
 * writing each block straight into the mapping (writeFrame) and stamping CLOCK_MONOTONIC into its
 * first 8 bytes last, just before it is published. Waits for a buffer rather than dropping.
 *
 *   producer.ts PATH WIDTH HEIGHT SECONDS
 */
import process from 'node:process';
import { ShmemProducer, stampPublishTime } from '../../src/shmem/mod.ts';

const [path, width, height, seconds] = [process.argv[2]!, ...process.argv.slice(3).map(Number)] as [string, number, number, number];
const producer = ShmemProducer.open(path, { blockWaitMs: 200 });
const rendered = new Uint8Array(width * height * 3).map((_, i) => i & 0xff);
const rowBytes = width * 3;
const end = performance.now() + seconds * 1000;
while (!producer.connected && performance.now() < end) await new Promise((resolve) => setTimeout(resolve, 1));
for (let frame = 1; performance.now() < end; frame++) {
  producer.writeFrame(
    frame,
    width,
    height,
    (block) => {
      const start = block.offset * rowBytes;
      block.pixels.set(rendered.subarray(start, start + block.pixels.byteLength));
      stampPublishTime(block.pixels);
    },
    { waitMs: 200 },
  );
}
producer.close();
