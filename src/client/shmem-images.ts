/**
 * The client side of EnSight's shared-memory image subscription, as EnSight's own client does it:
 * create the file (private directory, 0600, `/dev/shm` when present), ask EnSight to map it with
 * `SubscribeImages(type SHARED_MEM, options {filename})`, then read every frame out of it through
 * the native addon, woken by a futex (or a 2 ms timed wait for a producer that never wakes).
 *
 * Frames are copied out of the mapping into a buffer of their own, because `getImage()` and the
 * frame iterators hand frames to code that may keep them; a zero-copy consumer uses
 * {@link ShmemImageReader.consumer} directly.
 */
import { ShmemConsumer, type FrameImage } from '../shmem/mod.ts';

/** How long one wait for a frame lasts: the producer's own wait between a frame's blocks (1 s). */
const STOP_CHECK_MS = 1000;

export interface ShmemReaderOptions {
  /** Size of the shared file in bytes. Default 25 MiB, as EnSight's clients. */
  size?: number;
  /** Where the private directory holding the file is made. Default `/dev/shm`, else the temp dir. */
  directory?: string;
}

export class ShmemImageReader {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private keepAlive: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly consumer: ShmemConsumer) {}

  /** Creates the shared file; throws (typed `ShmemError`) when the addon or the file is refused. */
  static create(options: ShmemReaderOptions = {}): ShmemImageReader {
    return new ShmemImageReader(ShmemConsumer.create({ size: options.size, directory: options.directory }));
  }

  /** The file EnSight is told to map. */
  get filename(): string {
    return this.consumer.path;
  }

  /** Takes over the buffers the producer initialised (state 4 -> 0); false if it has not. */
  attach(): boolean {
    return this.consumer.attach();
  }

  /**
   * Reads frames until {@link stop}; `onFrame` gets each whole frame, `onEnd` the reason reading
   * ended. A frame larger than a buffer comes in several blocks that one wait assembles, so a wait
   * lasts {@link STOP_CHECK_MS}, as long as a producer waits between blocks: shorter, and a slow
   * second block would cost the frame.
   */
  start(onFrame: (image: FrameImage) => void, onEnd: (err?: unknown) => void): void {
    this.loop = (async () => {
      try {
        while (!this.stopped) {
          // The wait alone does not hold the host program open, see holdProcess.
          const image = await this.consumer.readFrame(undefined, { timeoutMs: STOP_CHECK_MS, keepAlive: false });
          if (image && !this.stopped) onFrame(image);
        }
        onEnd();
      } catch (err) {
        onEnd(this.stopped ? undefined : err);
      }
    })();
  }

  /**
   * Keeps the process alive while `hold` (someone awaits a frame) and the reader runs; otherwise
   * the reader does not, so a program that is done exits without calling shutdown().
   */
  holdProcess(hold: boolean): void {
    if (hold && !this.stopped) this.keepAlive ??= setInterval(() => {}, 1 << 30);
    else {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  /**
   * Stops reading, then unmaps and removes the file and its directory. The wait in progress ends
   * first (at most {@link STOP_CHECK_MS}): closing the consumer under a wait that is handing its
   * result back to JavaScript can deadlock Deno.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.holdProcess(false);
    await this.loop;
    this.consumer.close();
  }
}
