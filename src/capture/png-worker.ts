/**
 * A PNG encoder thread of {@link PngSink}: encodes one RGB frame with pngjs, writes its file, and
 * hands the pixel buffer back to the capture for reuse. Runs under Node, Bun and Deno
 * (node:worker_threads).
 */
import { Buffer } from 'node:buffer';
import { unlinkSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { PNG } from 'pngjs';
import type { PngJob, PngJobResult } from './png-sink.ts';

function encode(job: PngJob): Buffer {
  const data = Buffer.from(job.pixels);
  const image = { width: job.width, height: job.height, data } as PNG;
  return PNG.sync.write(image, { colorType: 2, inputColorType: 2, inputHasAlpha: false, deflateLevel: job.level });
}

function run(job: PngJob): PngJobResult['error'] {
  try {
    const png = encode(job);
    try {
      writeFileSync(job.path, png, { flag: job.flag });
    } catch (err) {
      // Only a file this job created may be removed: EEXIST means another file is there.
      if ((err as { code?: string }).code !== 'EEXIST') {
        try {
          unlinkSync(job.path);
        } catch {
          // It was never created.
        }
      }
      throw err;
    }
    return undefined;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
  }
}

const port = parentPort;
if (!port) throw new Error('png-worker.ts runs as a worker thread of the capture');
port.on('message', (job: PngJob) => {
  const error = run(job);
  const result: PngJobResult = error ? { id: job.id, pixels: job.pixels, error } : { id: job.id, pixels: job.pixels };
  port.postMessage(result, [job.pixels]);
});
