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
import { checkFrameFits, fileSizeForFrame, ShmemConsumer, type FrameImage, type ShmemError } from '../shmem/mod.ts';

/** How long one wait for a frame lasts: the producer's own wait between a frame's blocks (1 s). */
const STOP_CHECK_MS = 1000;

export interface ShmemReaderOptions {
  /**
   * Size of the shared file in bytes. Default: 25 MiB, as EnSight's clients, or with `frameSize`
   * two whole frames plus headers (never below 25 MiB).
   */
  size?: number;
  /** The largest frame expected: sizes the file, and a file too small for it is FRAME_TOO_LARGE. */
  frameSize?: { width: number; height: number };
  /** Where the private directory holding the file is made. Default `/dev/shm`, else the temp dir. */
  directory?: string;
  /** Each block the server got wrong (skipped; reading goes on). */
  onError?: (error: ShmemError) => void;
}

export class ShmemImageReader {
  private stopped = false;
  private loop: Promise<void> | undefined;

  private constructor(readonly consumer: ShmemConsumer) {}

  /** Creates the shared file; throws (typed `ShmemError`) when the addon or the file is refused. */
  static create(options: ShmemReaderOptions = {}): ShmemImageReader {
    let size = options.size;
    if (options.frameSize) {
      const { width, height } = options.frameSize;
      size ??= fileSizeForFrame(width, height);
      checkFrameFits(size, width, height);
    }
    return new ShmemImageReader(ShmemConsumer.create({ size, directory: options.directory, onError: options.onError }));
  }

  /** The file EnSight is told to map. */
  get filename(): string {
    return this.consumer.path;
  }

  /**
   * Takes over the buffers the producer initialised (state 4 -> 0); false while header 1 is not
   * located, which is also what a server that initialises to state 0 looks like until it publishes.
   */
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
          const image = await this.consumer.readFrame(undefined, { timeoutMs: STOP_CHECK_MS });
          if (image && !this.stopped) onFrame(image);
        }
        onEnd();
      } catch (err) {
        onEnd(this.stopped ? undefined : err);
      }
    })();
  }

  /**
   * Stops reading, then unmaps and removes the file and its directory. The wait in progress ends
   * first (at most {@link STOP_CHECK_MS}): closing the consumer under a wait that is handing its
   * result back to JavaScript can deadlock Deno.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.consumer.close();
  }
}
