/**
 * Shared-memory transport benchmark: frames/s and handoff latency (publish → the consumer's code
 * sees the block, CLOCK_MONOTONIC stamped by the producer process) for 640×480, 1920×1080 and
 * 3840×2160 RGB through the default 25 MiB file, next to a plain memcpy of the same bytes.
 *
 *   npm run bench:shmem [-- SECONDS_PER_RUN]
 *
 * Modes: zero-copy with the blocking waitLock (sync), zero-copy with `await lock()` (async: the wait
 * runs on the native waiter thread), and copy-out of whole frames with readFrameSync into one
 * reused buffer. Numbers depend on the machine; nothing here asserts.
 */
import { spawn } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { fileSizeForFrame, monotonicNowNs, readPublishTime, ShmemConsumer, type Frame } from '../../src/shmem/mod.ts';

const seconds = Number(process.argv[2] ?? 2);
const sizes: Array<[number, number]> = [
  [640, 480],
  [1920, 1080],
  [3840, 2160],
];
const producerScript = fileURLToPath(new URL('./producer.ts', import.meta.url));

function childCommand(args: string[]): string[] {
  const g = globalThis as Record<string, unknown>;
  if (g.Deno) return ['run', '--allow-all', producerScript, ...args];
  if (g.Bun) return ['run', producerScript, ...args];
  const loader = process.execArgv.filter((a) => a.includes('import'));
  return [...(loader.length ? loader : ['--import=@tapjs/typescript/import']), producerScript, ...args];
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN;
}

function memcpyFps(bytes: number): number {
  const source = new Uint8Array(bytes).fill(1);
  const target = new Uint8Array(bytes);
  let frames = 0;
  const end = performance.now() + seconds * 500;
  while (performance.now() < end) {
    target.set(source);
    frames++;
  }
  return frames / (seconds / 2);
}

type Mode = 'sync' | 'async' | 'copy-out';

interface Result {
  fps: number;
  p50us: number;
  p99us: number;
}

async function run(width: number, height: number, mode: Mode): Promise<Result> {
  const consumer = ShmemConsumer.create({ size: fileSizeForFrame(width, height) });
  const child = spawn(process.execPath, childCommand([consumer.path, String(width), String(height), String(seconds + 1)]), {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const latencies = new Float64Array(1 << 20);
  let samples = 0;
  let frames = 0;
  const target = new Uint8Array(width * height * 3);
  // Wait for the first frame before timing: the child needs a moment to start.
  const first = await consumer.lock({ timeoutMs: 10_000 });
  first?.unlock();
  const start = performance.now();
  const end = start + seconds * 1000;
  const note = (frame: Frame): void => {
    const seen = monotonicNowNs();
    if (samples < latencies.length) latencies[samples++] = Number(seen - readPublishTime(frame.pixels)) / 1000;
    if (frame.isLastBlock) frames++;
    frame.unlock();
  };
  while (performance.now() < end) {
    if (mode === 'sync') {
      const frame = consumer.waitLock(1000);
      if (!frame) break;
      note(frame);
    } else if (mode === 'async') {
      const frame = await consumer.lock({ timeoutMs: 1000 });
      if (!frame) break;
      note(frame);
    } else {
      const image = consumer.readFrameSync(target, { timeoutMs: 1000 });
      if (!image) break;
      const seen = monotonicNowNs();
      if (samples < latencies.length) latencies[samples++] = Number(seen - readPublishTime(image.pixels)) / 1000;
      frames++;
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  consumer.close();
  child.kill();
  await exited;
  const sorted = latencies.subarray(0, samples).sort();
  return { fps: frames / elapsed, p50us: percentile(sorted, 50), p99us: percentile(sorted, 99) };
}

const runtime = (globalThis as Record<string, unknown>).Bun ? 'bun' : (globalThis as Record<string, unknown>).Deno ? 'deno' : 'node';
console.log(`shmem bench (${runtime}, ${seconds} s a run; latency = producer publish -> consumer sees the block)`);
for (const [width, height] of sizes) {
  const bytes = width * height * 3;
  const memcpy = memcpyFps(bytes);
  const cells = [`${width}x${height} RGB (${(bytes / 1e6).toFixed(1)} MB): memcpy ${memcpy.toFixed(0)} fps`];
  for (const mode of ['sync', 'async', 'copy-out'] as const) {
    const r = await run(width, height, mode);
    cells.push(
      `${mode} ${r.fps.toFixed(0)} fps (${((r.fps / memcpy) * 100).toFixed(0)} % of memcpy), p50 ${r.p50us.toFixed(1)} µs, p99 ${r.p99us.toFixed(1)} µs`,
    );
  }
  console.log(cells.join('\n    '));
}
