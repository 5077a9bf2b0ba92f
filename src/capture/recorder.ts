/**
 * The recorder: takes each frame the client delivers, numbers it (the emulator's verified stamp,
 * else the transport's frame number), accounts for every frame that is not recorded, and feeds a
 * bounded queue that a {@link FrameSink} drains.
 *
 * The receiving side never waits for the disk. When the queue is full the incoming frame is
 * dropped and counted (dropping the newest costs nothing; an older one may already have been
 * copied), so a slow disk or encoder costs frames, never unbounded memory.
 */
import type { FrameView } from '../client/mod.ts';
import { verifyFrame } from '../frame-stamp/mod.ts';
import type { CaptureSummary, FrameGap } from './sidecar.ts';
import type { FrameSink, QueuedFrame, Segment } from './sink.ts';

/** The most verification failures and gaps listed one by one; all are counted. */
export const MAX_LISTED_FAILURES = 100;
export const MAX_LISTED_GAPS = 10_000;

type NumberedBy = 'stamp' | 'transport';

interface RecordedFrame {
  frameNumber: number;
  numberedBy: NumberedBy;
  timestampMs: number;
}

interface SegmentState extends Segment {
  /** By position; a hole is a frame whose write failed or is still in flight. */
  written: Array<RecordedFrame | undefined>;
  /** Positions handed out so far. */
  positions: number;
}

interface Queued extends QueuedFrame {
  segment: SegmentState;
  record: RecordedFrame;
  /** The pixels are the recorder's own copy (pooled), not the client's buffer. */
  owned: boolean;
}

export interface RecorderOptions {
  /** File name prefix of the segments. */
  name: string;
  sink: FrameSink;
  every: number;
  queueFrames: number;
  /** Stop accepting after this many frames. */
  maxFrames?: number;
  /** `performance.now()` at the start of the recording: timestamps count from here. */
  startMs: number;
  /** Called once, with the first output failure. */
  onFailure(err: unknown): void;
  /** Called once, when `maxFrames` frames have been accepted. */
  onFull(): void;
}

export type FrameCounts = Omit<CaptureSummary['frames'], 'droppedClient'>;

export class Recorder {
  readonly counts: FrameCounts = {
    received: 0,
    recorded: 0,
    skipped: 0,
    droppedQueue: 0,
    notReceived: 0,
    discarded: 0,
    discontinuities: 0,
  };
  readonly verification: Omit<CaptureSummary['verification'], 'required'> = { verified: 0, failed: 0, failures: [] };
  /** RGB bytes written. */
  bytes = 0;
  /** `performance.now()` of the first frame received. */
  firstFrameMs: number | undefined;
  readonly segments: SegmentState[] = [];
  private readonly queue: Queued[] = [];
  private inFlight = 0;
  private accepted = 0;
  private lastReceived: { frameNumber: number; numberedBy: NumberedBy } | undefined;
  private failure: unknown;
  private readonly spareBuffers: Uint8Array[] = [];
  private readonly settledWaiters: Array<() => void> = [];

  constructor(private readonly options: RecorderOptions) {}

  get failed(): unknown {
    return this.failure;
  }

  /** Whether it takes no more frames: the output failed or `maxFrames` were accepted. */
  get closed(): boolean {
    const { maxFrames } = this.options;
    return this.failure !== undefined || (maxFrames !== undefined && this.accepted >= maxFrames);
  }

  /**
   * Takes one frame from the client, synchronously (before the iterator advances): numbers it,
   * then skips it (`every`), drops it (queue full) or queues it for the sink.
   */
  accept(frame: FrameView): void {
    if (this.closed) return;
    const now = performance.now();
    this.firstFrameMs ??= now;
    const index = this.counts.received++;
    const timestampMs = now - this.options.startMs;
    const { maxFrames } = this.options;
    const skip = index % this.options.every !== 0;
    const drop = !skip && this.queue.length >= this.options.queueFrames;
    if (skip || drop) {
      // Not recorded: numbered only to count what the source lost, without the full check, which
      // would cost most when the disk is already behind.
      this.countUpstreamLoss(this.peekNumber(frame, timestampMs));
      this.counts[skip ? 'skipped' : 'droppedQueue']++;
      return;
    }
    const segment = this.segmentFor(frame.width, frame.height);
    // A copy only where the frame's buffer cannot be held until the write is done: a shared-memory
    // view is the mapping, handed back to EnSight when the iterator advances, and a sink that
    // transfers buffers to a thread must own them. A gRPC frame's view is its message's own
    // buffer, never reused, and is written as it is. The copy (pooled) is what gets verified.
    const owned = this.options.sink.takesBuffers || frame.transport === 'shmem';
    const pixels = owned ? frame.copyTo(this.buffer(frame.width * frame.height * 3)) : frame.pixels;
    const record = this.verifiedNumber({ pixels, width: frame.width, height: frame.height, frameNumber: frame.frameNumber }, index, timestampMs);
    this.countUpstreamLoss(record);
    this.queue.push({ segment, position: segment.positions++, pixels, record, owned });
    this.accepted++;
    if (maxFrames !== undefined && this.accepted === maxFrames) this.options.onFull();
    this.pump();
  }

  /** A recorded frame's number: the stamp's when the whole stamp verifies, else the transport's. */
  private verifiedNumber(frame: Pick<FrameView, 'pixels' | 'width' | 'height' | 'frameNumber'>, index: number, timestampMs: number): RecordedFrame {
    const verdict = verifyFrame(frame.pixels, frame.width, frame.height);
    if (verdict.ok) {
      this.verification.verified++;
      return { frameNumber: verdict.frameNumber, numberedBy: 'stamp', timestampMs };
    }
    this.verification.failed++;
    if (this.verification.failures.length < MAX_LISTED_FAILURES) {
      this.verification.failures.push({ received: index, transportFrameNumber: frame.frameNumber, reason: verdict.reason });
    }
    return { frameNumber: frame.frameNumber, numberedBy: 'transport', timestampMs };
  }

  /**
   * An unrecorded frame's number in the numbering the source has been using: while frames are
   * stamped, row 0's stamp (frame number in its head, low 16 bits repeated in its tail; layout
   * in `frame-stamp/mod.ts`), else the transport's.
   */
  private peekNumber(frame: FrameView, timestampMs: number): RecordedFrame {
    const { width } = frame;
    const pixels = frame.blocks[0]!.pixels; // row 0, read in place
    const rowBytes = width * 3;
    if (this.lastReceived?.numberedBy === 'stamp' && rowBytes >= 12 && pixels.byteLength >= rowBytes) {
      const view = new DataView(pixels.buffer, pixels.byteOffset, rowBytes);
      const head = view.getUint32(0, true);
      if (view.getUint16(4, true) === 0 && view.getUint16(rowBytes - 2, true) === (head & 0xffff)) {
        return { frameNumber: head, numberedBy: 'stamp', timestampMs };
      }
    }
    return { frameNumber: frame.frameNumber, numberedBy: 'transport', timestampMs };
  }

  /** Frame numbers skipped between this frame and the previous one received were lost upstream. */
  private countUpstreamLoss(record: RecordedFrame): void {
    const last = this.lastReceived;
    if (last && last.numberedBy === record.numberedBy) {
      if (record.frameNumber > last.frameNumber) this.counts.notReceived += record.frameNumber - last.frameNumber - 1;
      else this.counts.discontinuities++;
    }
    this.lastReceived = record;
  }

  private segmentFor(width: number, height: number): SegmentState {
    const current = this.segments[this.segments.length - 1];
    if (current && current.width === width && current.height === height) return current;
    const index = this.segments.length;
    const segment: SegmentState = {
      index,
      width,
      height,
      frameBytes: width * height * 3,
      file: this.options.sink.segmentFile(this.options.name, index),
      written: [],
      positions: 0,
    };
    this.segments.push(segment);
    this.spareBuffers.length = 0;
    return segment;
  }

  /** A pooled buffer of `bytes` (the pool holds one frame size: the current segment's). */
  private buffer(bytes: number): Uint8Array {
    const spare = this.spareBuffers.pop();
    return spare && spare.byteLength === bytes ? spare : new Uint8Array(new ArrayBuffer(bytes));
  }

  private recycle(buffer: Uint8Array): void {
    if (this.spareBuffers.length < this.options.queueFrames + this.options.sink.slots) this.spareBuffers.push(buffer);
  }

  private pump(): void {
    const { sink } = this.options;
    while (this.failure === undefined && this.inFlight < sink.slots && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.inFlight++;
      sink
        .write(item, (buffer) => this.recycle(buffer))
        .then(
          () => {
            item.segment.written[item.position] = item.record;
            this.counts.recorded++;
            this.bytes += item.segment.frameBytes;
            if (item.owned && !sink.takesBuffers) this.recycle(item.pixels);
          },
          (err: unknown) => this.fail(err),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) for (const wake of this.settledWaiters.splice(0)) wake();
        });
    }
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.abandonQueued();
    this.options.onFailure(err);
  }

  /** Gives up the frames still queued (counted as discarded); frames being written are finished. */
  abandonQueued(): void {
    this.counts.discarded += this.queue.length;
    for (const item of this.queue.splice(0)) if (item.owned) this.recycle(item.pixels);
  }

  /**
   * Ends the recording: writes what is queued (or abandons it, counted), waits for the writes in
   * flight, closes the sink, and removes written frames that lie after a failed one in their
   * sequence, so every segment is whole frames at positions 0..n-1.
   */
  async finish(abandon: boolean): Promise<void> {
    if (abandon) this.abandonQueued();
    if (this.inFlight > 0 || this.queue.length > 0) await new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    try {
      await this.options.sink.close();
    } catch (err) {
      this.fail(err);
    }
    for (const segment of this.segments) {
      const hole = segment.written.findIndex((f) => f === undefined);
      if (hole < 0) continue;
      for (let position = hole; position < segment.written.length; position++) {
        if (!segment.written[position]) continue;
        await this.options.sink.discard({ segment, position });
        this.counts.recorded--;
        this.counts.discarded++;
        this.bytes -= segment.frameBytes;
      }
      segment.written.length = hole;
    }
  }

  /** Missing frame numbers between consecutive recorded frames of the same numbering. */
  gaps(): CaptureSummary['gaps'] {
    const list: FrameGap[] = [];
    let count = 0;
    let missingFrames = 0;
    let previous: RecordedFrame | undefined;
    for (const segment of this.segments) {
      for (const frame of segment.written as RecordedFrame[]) {
        if (previous && previous.numberedBy === frame.numberedBy && frame.frameNumber > previous.frameNumber + 1) {
          const missing = frame.frameNumber - previous.frameNumber - 1;
          count++;
          missingFrames += missing;
          if (list.length < MAX_LISTED_GAPS) list.push({ segment: segment.index, after: previous.frameNumber, before: frame.frameNumber, missing });
        }
        previous = frame;
      }
    }
    return { count, missingFrames, list, truncated: count > list.length };
  }
}
