/**
 * When each frame was published, for latency measurements that must not touch the frame:
 * EnSight's shared-memory header is fixed, and the pixels carry the verification stamp.
 *
 * Each sink records `(transport, frame number, CLOCK_MONOTONIC ns)` right before it hands a
 * frame over (the shared-memory publish, the first gRPC write). Records go to a preallocated ring
 * (the newest {@link PUBLISH_LOG_CAPACITY}) and are written to the file, replacing it, on every
 * Unsubscribe, when free-running frames are stopped, and at stop. The reader joins them with its own "seen" times by frame number
 * ({@link readPublishLog}); both sides read the same clock (src/shmem/clock.ts).
 *
 * File format: 16-byte records, little-endian: u64 ns, u32 frame number, u32 transport.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { monotonicNs } from '../shmem/clock.ts';

export const PUBLISH_LOG_CAPACITY = 1 << 18;
export const PUBLISH_TRANSPORTS = ['shmem', 'stream', 'subscription'] as const;
export type PublishTransport = (typeof PUBLISH_TRANSPORTS)[number];

const RECORD_BYTES = 16;

export class PublishLog {
  private readonly records = new DataView(new ArrayBuffer(PUBLISH_LOG_CAPACITY * RECORD_BYTES));
  private count = 0;

  constructor(readonly path: string) {}

  record(transport: PublishTransport, frameNumber: number): void {
    const at = (this.count++ % PUBLISH_LOG_CAPACITY) * RECORD_BYTES;
    this.records.setBigUint64(at, monotonicNs(), true);
    this.records.setUint32(at + 8, frameNumber, true);
    this.records.setUint32(at + 12, PUBLISH_TRANSPORTS.indexOf(transport), true);
  }

  /** Writes the ring, oldest first. */
  flush(): void {
    const kept = Math.min(this.count, PUBLISH_LOG_CAPACITY);
    const first = this.count - kept;
    const bytes = new Uint8Array(kept * RECORD_BYTES);
    const all = new Uint8Array(this.records.buffer);
    for (let i = 0; i < kept; i++) {
      const at = ((first + i) % PUBLISH_LOG_CAPACITY) * RECORD_BYTES;
      bytes.set(all.subarray(at, at + RECORD_BYTES), i * RECORD_BYTES);
    }
    writeFileSync(this.path, bytes);
  }
}

/** The publish times in a log file: transport → frame number → ns. */
export function readPublishLog(path: string): Map<PublishTransport, Map<number, bigint>> {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<PublishTransport, Map<number, bigint>>(PUBLISH_TRANSPORTS.map((t) => [t, new Map()]));
  for (let at = 0; at + RECORD_BYTES <= bytes.byteLength; at += RECORD_BYTES) {
    const transport = PUBLISH_TRANSPORTS[view.getUint32(at + 12, true)];
    if (transport) out.get(transport)!.set(view.getUint32(at + 8, true), view.getBigUint64(at, true));
  }
  return out;
}
