/**
 * Frames into a client's shared-memory file, as EnSight does after
 * `SubscribeImages(type SHARED_MEM, options {filename})`: the emulator maps the file as the
 * producer and writes each frame straight into the buffer it claims (picture rows copied, then
 * stamped in place: one copy, no intermediate frame). A frame the consumer has no free buffer for
 * is dropped and counted, as EnSight drops it; with `waitMs` (free-running benchmarks) the
 * producer waits that long for a buffer instead.
 */
import { ShmemError, ShmemProducer, type PutResult } from '../shmem/mod.ts';
import { stampRows } from '../frame-stamp/mod.ts';
import type { StreamFrame } from './frames.ts';
import type { PublishLog } from './publish-log.ts';
import type { ImageSink, SinkStats } from './sinks.ts';
import { StatusError } from './status.ts';
import * as grpc from '@grpc/grpc-js';

export class ShmemImageSink implements ImageSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0 };
  /** Set when the file broke under us (the client truncated or closed it): frames are dropped. */
  private failure: unknown;
  /** A shared-memory frame is written (or dropped) during `offer`: this sink is always ready. */
  readonly ready = true;
  onReady: (() => void) | undefined;

  private constructor(
    private readonly producer: ShmemProducer,
    readonly flipVertical: boolean,
    private readonly waitMs: number,
    private readonly log: PublishLog | undefined,
  ) {}

  /** Maps the client's file; a file that is not a stream (or no addon) is the caller's error. */
  static open(filename: string, flipVertical: boolean, waitMs: number, log?: PublishLog): ShmemImageSink {
    if (!filename) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'SHARED_MEM subscriptions need options.filename');
    try {
      return new ShmemImageSink(ShmemProducer.open(filename), flipVertical, waitMs, log);
    } catch (err) {
      const detail = err instanceof ShmemError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
      throw new StatusError(grpc.status.FAILED_PRECONDITION, `cannot use ${filename} for shared-memory images (${detail})`);
    }
  }

  offer(frame: StreamFrame): void {
    if (this.failure !== undefined) {
      this.stats.dropped++;
      return;
    }
    try {
      this.stats[this.write(frame) === 'ok' ? 'sent' : 'dropped']++;
    } catch (err) {
      // A hostile or departed client must not take the emulator down: stop writing to its file.
      this.failure = err;
      this.stats.dropped++;
    }
  }

  private write(frame: StreamFrame): PutResult {
    const { width, height, frameNumber, picture, rowHashes } = frame;
    const rowBytes = width * 3;
    return this.producer.writeFrame(
      frameNumber,
      width,
      height,
      (block) => {
        block.copyFrom(picture, block.offset * rowBytes);
        stampRows(block.pixels, width, block.offset, block.numScanlines, frameNumber, rowHashes);
        if (block.offset + block.numScanlines === height) this.log?.record('shmem', frameNumber);
      },
      { waitMs: this.waitMs },
    );
  }

  close(): void {
    this.producer.close();
  }
}
