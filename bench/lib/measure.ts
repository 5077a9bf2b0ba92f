/**
 * What one benchmark row measures, and how the numbers are derived.
 *
 * Every row runs two phases against the same transport and frame size:
 * - streaming: the producer free-runs (as fast as the transport takes frames) for a fixed time;
 *   fps and GB/s are frames (and their pixel bytes) the consumer's code saw per second, CPU % is
 *   this process's CPU time over that wall time (all its threads), drops are the frame numbers
 *   that never reached the consumer, and the latencies (p50/p99/max) are those of this stream of
 *   frames;
 * - idle: the producer is paced well below what the transport sustains, so each frame meets a
 *   consumer asleep in its wait; these latencies (idle_p50/idle_p99) include waking it.
 * Latency is producer publish → the consumer's code has the whole frame, both read from
 * CLOCK_MONOTONIC (src/shmem/clock.ts), joined by frame number with the emulator's publish log.
 */
import process from 'node:process';
import { monotonicNs } from '../../src/shmem/clock.ts';

export interface FrameSize {
  width: number;
  height: number;
}

export const frameBytes = (s: FrameSize): number => s.width * s.height * 3;
export const sizeLabel = (s: FrameSize): string => `${s.width}x${s.height}`;

/** What a consumer loop reports: when it saw which frame. */
export class SeenLog {
  readonly frames: number[] = [];
  readonly times: bigint[] = [];
  bytes = 0;

  saw(frameNumber: number, bytes: number): void {
    this.times.push(monotonicNs());
    this.frames.push(frameNumber);
    this.bytes += bytes;
  }

  get count(): number {
    return this.frames.length;
  }

  /** Frame numbers between the first and last seen that were never seen. */
  gaps(): number {
    if (this.frames.length < 2) return 0;
    const seen = new Set(this.frames);
    const first = Math.min(...this.frames.slice(0, 1000));
    const last = Math.max(...this.frames.slice(-1000));
    return Math.max(0, last - first + 1 - seen.size);
  }
}

export interface Throughput {
  fps: number;
  gbps: number;
  cpuPct: number;
  dropped: number;
  /** What the consumer saw, for the latencies under load. */
  seen: SeenLog;
}

/** Runs `consume` for `ms` of wall time and turns what it saw into rates. */
export async function measureThroughput(
  ms: number,
  consume: (seen: SeenLog, until: number) => Promise<void | { cpuPct: number }> | void,
): Promise<Throughput> {
  const seen = new SeenLog();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const own = await consume(seen, t0 + ms);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    fps: seen.count / wall,
    gbps: seen.bytes / wall / 1e9,
    // A consumer in another process (the PyEnSight-style peer) measures its own.
    cpuPct: own ? own.cpuPct : ((cpu.user + cpu.system) / 1e6 / wall) * 100,
    dropped: seen.gaps(),
    seen,
  };
}

/**
 * A frame this late (publish → user) met a stall of the host rather than the transport's cost:
 * on the project's 2-vCPU machines every shared-memory row sees ~0.1-0.3 ms normally and 2-20 ms
 * for a run of consecutive frames now and then, and which side of 1 % of frames those runs fall
 * on decides a p99 under load. The bench reports the share, so a p99 can be read against it.
 */
export const LATE_US = 1500;

export interface Latency {
  p50Us: number;
  p99Us: number;
  /** Percent of the frames later than {@link LATE_US} (NaN without samples). */
  latePct: number;
  maxUs: number;
  samples: number;
}

/** Publish → seen latencies of the frames found in both logs. */
export function latencies(seen: SeenLog, published: Map<number, bigint>): Latency {
  const us: number[] = [];
  seen.frames.forEach((frame, i) => {
    const at = published.get(frame);
    if (at !== undefined) us.push(Number(seen.times[i]! - at) / 1000);
  });
  us.sort((a, b) => a - b);
  const pick = (q: number) => (us.length ? us[Math.min(us.length - 1, Math.floor(q * us.length))]! : NaN);
  const late = us.length ? (100 * us.filter((v) => v > LATE_US).length) / us.length : NaN;
  return { p50Us: pick(0.5), p99Us: pick(0.99), latePct: late, maxUs: us.length ? us[us.length - 1]! : NaN, samples: us.length };
}

/** The emulator's frame number, from the stamp's head (row 0, bytes 0..3, little-endian). */
export function stampedFrameNumber(pixels: Uint8Array): number {
  return (pixels[0]! | (pixels[1]! << 8) | (pixels[2]! << 16) | (pixels[3]! << 24)) >>> 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
