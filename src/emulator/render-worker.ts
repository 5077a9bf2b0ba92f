/**
 * Rasterizing off the event loop: {@link RenderWorker} runs the rasterizer in a worker thread
 * (render-thread.ts), so an 8192² render with 16 anti-aliasing passes no longer stops every other
 * client's calls for tens of seconds.
 *
 * Memory: a render needs about {@link BYTES_PER_PIXEL} bytes a pixel in the worker (depth, pass and
 * sum buffers, the image). Renders queued or running together may not need more than the budget
 * (RESOURCE_EXHAUSTED beyond it), and after a render larger than {@link KEEP_WORKER_BYTES} the worker
 * is ended, which frees its scratch buffers; so is a worker idle for {@link IDLE_MS}, and the
 * worker of a render whose caller went away.
 */
import * as grpc from '@grpc/grpc-js';
import { Worker } from 'node:worker_threads';
import type { RenderJob, RenderJobReply } from './render-thread.ts';
import type { RenderSettings } from './render.ts';
import type { Pose } from './scene.ts';
import { StatusError } from './status.ts';

/** Depth (4) + one pass (3) + the pass sum (12) + the image (3), and the image copy sent back (3). */
export const BYTES_PER_PIXEL = 25;
/** Default budget: one 8192² render with anti-aliasing (≈1.7 GB) at a time. */
export const DEFAULT_RENDER_BUDGET_BYTES = 2 * 1024 ** 3;
/** Scratch kept between renders at most; a larger render ends its worker afterwards. */
const KEEP_WORKER_BYTES = 64 * 1024 ** 2;
const IDLE_MS = 30_000;

/** The thread's entry beside this module: `.ts` when run from source (Bun, Deno, tests), `.js` from `dist/`. */
function threadUrl(): URL {
  return new URL(`./render-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
}

export function renderBytes(settings: Pick<RenderSettings, 'width' | 'height'>): number {
  return settings.width * settings.height * BYTES_PER_PIXEL;
}

/** One worker thread at a time (renders are serialized, as in EnSight), started on demand. */
export class RenderWorker {
  private worker: Worker | undefined;
  /** The running worker's stop flag (see render-thread.ts). */
  private stopFlag: Int32Array | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(pixels: Uint8Array): void; reject(err: Error): void; bytes: number }>();
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes of renders queued or running. */
  inUse = 0;

  constructor(private readonly budgetBytes = DEFAULT_RENDER_BUDGET_BYTES) {}

  /**
   * Renders in the worker. `gone()` is asked when the render's turn comes (a caller that left is
   * not served) and `onGone` ends a running render's worker.
   */
  render(pose: Pose, settings: RenderSettings, caller?: { gone(): boolean; onGone(listener: () => void): void }): Promise<Uint8Array> {
    const bytes = renderBytes(settings);
    if (this.inUse + bytes > this.budgetBytes) {
      throw new StatusError(
        grpc.status.RESOURCE_EXHAUSTED,
        `a ${settings.width}x${settings.height} render needs about ${bytes} bytes; renders in progress already use ${this.inUse} of the ${this.budgetBytes}-byte budget`,
      );
    }
    this.inUse += bytes;
    const run = this.queue.then(() => {
      if (caller?.gone()) throw new StatusError(grpc.status.CANCELLED, 'the caller went away before its render started');
      return this.post(pose, settings, bytes, caller);
    });
    this.queue = run.catch(() => undefined);
    return run.finally(() => (this.inUse -= bytes));
  }

  close(): void {
    this.end(new Error('the emulator is stopping'));
  }

  private post(pose: Pose, settings: RenderSettings, bytes: number, caller?: { onGone(listener: () => void): void }): Promise<Uint8Array> {
    clearTimeout(this.idleTimer);
    const worker = this.start();
    const id = this.nextId++;
    const done = new Promise<Uint8Array>((resolve, reject) => this.waiting.set(id, { resolve, reject, bytes }));
    caller?.onGone(() => {
      if (this.waiting.has(id) && this.worker === worker) this.end(new StatusError(grpc.status.CANCELLED, 'the caller went away; its render was stopped'));
    });
    worker.postMessage({ id, pose, settings } satisfies RenderJob);
    return done.finally(() => {
      if (this.worker !== worker) return;
      // A big render's scratch buffers go with its worker; a small one's worker stays a while.
      if (bytes > KEEP_WORKER_BYTES) this.end();
      else {
        this.idleTimer = setTimeout(() => this.end(), IDLE_MS);
        this.idleTimer.unref?.();
      }
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const stop = new SharedArrayBuffer(4);
    const worker = new Worker(threadUrl(), { workerData: { stop } });
    this.stopFlag = new Int32Array(stop);
    worker.unref();
    worker.on('message', (reply: RenderJobReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('pixels' in reply) waiter.resolve(reply.pixels);
      else waiter.reject(new StatusError(grpc.status.INTERNAL, `render failed: ${reply.error}`));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.end(new StatusError(grpc.status.INTERNAL, `the render worker failed: ${err.message}`));
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`it exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Ends the worker (freeing its memory); renders in it fail with `reason`. */
  private end(reason: Error = new Error('the render worker was ended')): void {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (this.stopFlag) Atomics.store(this.stopFlag, 0, 1);
    this.stopFlag = undefined;
    for (const waiter of this.waiting.values()) waiter.reject(reason);
    this.waiting.clear();
    void worker?.terminate();
  }
}
