/**
 * The PNG sink: a pool of encoder threads (node:worker_threads, in Node, Bun and Deno), each
 * encoding one frame at a time with pngjs and writing its file. The frame's pixel buffer is
 * transferred to the thread, not copied, and transferred back for reuse.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CaptureError, outputError } from './errors.ts';
import { segmentFileName, type FrameSink, type QueuedFrame, type Segment } from './sink.ts';

export interface PngJob {
  id: number;
  path: string;
  width: number;
  height: number;
  level: number;
  /** `wx`: refuse to replace a file; `w`: replace it. */
  flag: 'w' | 'wx';
  /** Exactly width × height × 3 bytes of RGB. */
  pixels: ArrayBuffer;
}

export interface PngJobResult {
  id: number;
  pixels: ArrayBuffer;
  error?: { message: string; code?: string };
}

function pngFileName(segment: Segment, position: number): string {
  return segment.file.replace('%06d', String(position).padStart(6, '0'));
}

/** The worker's file, next to this module: `.ts` where the runtime runs the source, `.js` in dist/. */
function workerUrl(): URL {
  const extension = new URL(import.meta.url).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./png-worker${extension}`, import.meta.url);
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  recycle(buffer: Uint8Array): void;
  path: string;
}

export class PngSink implements FrameSink {
  readonly takesBuffers = true;
  readonly slots: number;
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<Worker, Pending>();
  private failure: CaptureError | undefined;
  private nextId = 0;

  constructor(
    private readonly directory: string,
    private readonly overwrite: boolean,
    threads: number,
    private readonly level: number,
  ) {
    this.slots = threads;
    for (let i = 0; i < threads; i++) this.addWorker();
  }

  private addWorker(): void {
    const worker = new Worker(workerUrl());
    worker.on('message', (result: PngJobResult) => this.finished(worker, result));
    worker.on('error', (err: Error) => this.crashed(worker, err));
    worker.on('exit', (code) => {
      if (this.workers.includes(worker)) this.crashed(worker, new Error(`it exited with code ${code}`));
    });
    this.workers.push(worker);
    this.idle.push(worker);
  }

  private finished(worker: Worker, result: PngJobResult): void {
    const job = this.pending.get(worker);
    if (!job) return;
    this.pending.delete(worker);
    this.idle.push(worker);
    job.recycle(new Uint8Array(result.pixels));
    if (result.error) job.reject(outputError('write', job.path, result.error));
    else job.resolve();
  }

  private crashed(worker: Worker, err: Error): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    this.workers.splice(index, 1);
    this.failure ??= new CaptureError(`a PNG encoder thread failed: ${err.message}`, 'CAPTURE_ENCODER', { cause: err });
    const job = this.pending.get(worker);
    this.pending.delete(worker);
    job?.reject(this.failure);
  }

  /** `capture-000-%06d.png`: ffmpeg's image2 pattern of the segment's files. */
  segmentFile(name: string, index: number): string {
    return segmentFileName(name, index, '-%06d.png');
  }

  write(frame: QueuedFrame, recycle: (buffer: Uint8Array) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.idle.pop();
    if (!worker) return Promise.reject(new Error('PngSink.write: more frames in flight than slots'));
    const { segment, pixels } = frame;
    if (pixels.byteOffset !== 0 || pixels.byteLength !== pixels.buffer.byteLength || !(pixels.buffer instanceof ArrayBuffer)) {
      return Promise.reject(new Error('PngSink.write: the pixels must fill a transferable ArrayBuffer'));
    }
    const path = join(this.directory, pngFileName(segment, frame.position));
    const job: PngJob = {
      id: this.nextId++,
      path,
      width: segment.width,
      height: segment.height,
      level: this.level,
      flag: this.overwrite ? 'w' : 'wx',
      pixels: pixels.buffer,
    };
    return new Promise<void>((resolve, reject) => {
      this.pending.set(worker, { resolve, reject, recycle, path });
      worker.postMessage(job, [job.pixels]);
    });
  }

  async discard(frame: { segment: Segment; position: number }): Promise<void> {
    await unlink(join(this.directory, pngFileName(frame.segment, frame.position))).catch(() => undefined);
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
