/**
 * The render worker thread's entry (see render-worker.ts): rasterizes each job it is sent and
 * posts the image back, transferred. Imports only the rasterizer, so the thread starts quickly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Rasterizer, type RenderSettings } from './render.ts';
import type { Pose } from './scene.ts';

export interface RenderJob {
  id: number;
  pose: Pose;
  settings: RenderSettings;
}

export type RenderJobReply = { id: number; pixels: Uint8Array } | { id: number; error: string };

if (parentPort) {
  const port = parentPort;
  const rasterizer = new Rasterizer();
  // The stop flag: terminate() cannot interrupt a busy thread in every runtime (Bun), so the
  // rasterizer also looks between passes.
  const stop = new Int32Array((workerData as { stop: SharedArrayBuffer }).stop);
  port.on('message', (job: RenderJob) => {
    let reply: RenderJobReply;
    try {
      reply = { id: job.id, pixels: rasterizer.render(job.pose, job.settings, () => Atomics.load(stop, 0) !== 0) };
    } catch (err) {
      reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply, 'pixels' in reply ? [reply.pixels.buffer as ArrayBuffer] : []);
  });
}
