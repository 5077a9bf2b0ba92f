/**
 * Reading a capture back: the raw stream split into frames, PNG files decoded, each frame's
 * stamp verified and checked against the sidecar.
 */
import { Buffer } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { PNG } from 'pngjs';
import type { TestApi } from '../harness/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import type { CaptureSummary, SegmentSummary } from '../../src/capture/mod.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The pixels of every frame of a segment, as written. */
export function segmentFrames(summary: CaptureSummary, segment: SegmentSummary): Uint8Array[] {
  const dir = summary.output.directory;
  if (summary.output.format === 'raw') {
    const bytes = readFileSync(join(dir, segment.file));
    const frames: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.byteLength; offset += segment.frameBytes) frames.push(bytes.subarray(offset, offset + segment.frameBytes));
    return frames;
  }
  return segment.frameNumbers.map((_, i) => {
    const png = PNG.sync.read(readFileSync(join(dir, segment.file.replace('%06d', String(i).padStart(6, '0')))));
    const rgb = Buffer.alloc(png.width * png.height * 3);
    for (let p = 0, q = 0; p < png.data.length; p += 4, q += 3) png.data.copy(rgb, q, p, p + 3);
    return rgb;
  });
}

/** Every segment's files hold exactly the sidecar's frames, each verifying with the sidecar's frame number. */
export function checkRecorded(t: TestApi, summary: CaptureSummary): void {
  let recorded = 0;
  for (const segment of summary.segments) {
    const frames = segmentFrames(summary, segment);
    t.equal(frames.length, segment.frames, `segment ${segment.index}: ${segment.frames} frames in the files`);
    t.equal(segment.frameNumbers.length, segment.frames, `segment ${segment.index}: a frame number per frame`);
    t.equal(segment.timestampsMs.length, segment.frames, `segment ${segment.index}: a timestamp per frame`);
    const numbers = frames.map((pixels) => {
      const verdict = verifyFrame(pixels, segment.width, segment.height);
      return verdict.ok ? verdict.frameNumber : -1;
    });
    t.strictSame(numbers, segment.frameNumbers, `segment ${segment.index}: every frame verifies, with the sidecar's frame number`);
    t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), `segment ${segment.index}: frame numbers increase`);
    recorded += segment.frames;
  }
  t.equal(summary.frames.recorded, recorded, 'frames.recorded is the sum of the segments');
  const sidecar = JSON.parse(readFileSync(summary.output.sidecar, 'utf8')) as CaptureSummary;
  t.strictSame(sidecar, summary, 'the sidecar on disk is the summary');
}

/** Recorded frame numbers' gaps, recomputed from the segments. */
export function missingBetweenRecorded(summary: CaptureSummary): number {
  const numbers = summary.segments.flatMap((s) => s.frameNumbers);
  return numbers.reduce((missing, n, i) => (i === 0 ? 0 : missing + (n - numbers[i - 1]! - 1)), 0);
}

/** How this runtime runs the CLI: Node the built dist/, Bun and Deno the source. */
export function captureCommand(): { command: string; args: string[] } {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const source = join(root, 'src', 'capture', 'cli.ts');
  if (deno) {
    const permissions = ['--allow-ffi', '--allow-read', '--allow-write', '--allow-env', '--allow-net', '--allow-run', '--allow-sys'];
    return { command: deno.execPath(), args: ['run', ...permissions, source] };
  }
  if ((globalThis as { Bun?: unknown }).Bun) return { command: process.execPath, args: [source] };
  return { command: process.execPath, args: [join(root, 'dist', 'capture', 'cli.js')] };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `ensight-capture <args>`; `done` resolves when it exits. `detached`: as a terminal runs
 * it, leading a process group of its own (signal the group with {@link signalGroup}).
 */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  options: { detached?: boolean; cwd?: string } = {},
): { child: ReturnType<typeof spawn>; done: Promise<CliRun> } {
  const { command, args: prefix } = captureCommand();
  const child = spawn(command, [...prefix, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
    ...(options.detached ? { detached: true } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<CliRun>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Whether `program` runs (`program -version`). */
export function available(program: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(program, ['-version'], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('close', (code) => resolve(code === 0));
  });
}

/** Sends `signal` to every process of the group `leader` leads, as a terminal's Ctrl-C does. */
export function signalGroup(leader: number, signal: 'SIGINT' | 'SIGTERM'): void {
  const result = spawnSync('kill', [`-${signal.slice(3)}`, '--', `-${leader}`]);
  if (result.status !== 0) throw new Error(`kill -${signal} -${leader} failed: ${String(result.stderr)}`);
}

// Processes and /dev/shm are read through ps and find: Deno refuses JavaScript /proc and /dev
// without --allow-all.

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  comm: string;
}

function processes(): Proc[] {
  const result = spawnSync('ps', ['-eo', 'pid=,ppid=,pgid=,stat=,comm='], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ps failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 5)
    .map(([pid, ppid, pgid, state, ...comm]) => ({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), state: state!, comm: comm.join(' ') }));
}

/** Whether `pid` runs: exists and is not a zombie (an orphan's zombie waits for init to reap it). */
export function running(pid: number): boolean {
  const proc = processes().find((p) => p.pid === pid);
  return proc !== undefined && !proc.state.startsWith('Z');
}

/** The live children of `pid`, with their command names and process groups. */
export function childrenOf(pid: number): Array<{ pid: number; comm: string; pgid: number }> {
  return processes()
    .filter((p) => p.ppid === pid && !p.state.startsWith('Z'))
    .map(({ pid, comm, pgid }) => ({ pid, comm, pgid }));
}

/** The shared-memory files a process `pid` made (the client names them after its pid). */
export function shmemFilesOf(pid: number): string[] {
  const result = spawnSync('find', ['/dev/shm', '-maxdepth', '2', '-path', '/dev/shm/ensight-shmem-*', '-name', `shmem_${pid}.bin`], { encoding: 'utf8' });
  return result.stdout.split('\n').filter(Boolean);
}
