/**
 * The bench's Python programs (bench/grpc-core/*.py) as child processes: Debian's python3 with
 * grpcio (gRPC's C core) and protobuf. Each speaks a line protocol: one command a line on
 * stdin, one JSON line back on stdout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

/** Debian's interpreter: where apt installs python3-grpcio (a pyenv python3 first on PATH has none). */
export const PYTHON = process.env.ENSIGHT_BENCH_PYTHON ?? '/usr/bin/python3';
const here = fileURLToPath(new URL('.', import.meta.url));

/** Why the C-core rows cannot run here, or undefined when they can. */
export function pythonGrpcMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} has no grpc/protobuf (Debian: python3-grpcio python3-protobuf)`;
  const protoc = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  if (protoc.status !== 0) return 'protoc is missing (Debian: protobuf-compiler)';
  return undefined;
}

/** A Python program answering one JSON line per command line. */
export class LineProcess {
  private buffered = '';
  private readonly lines: string[] = [];
  private waiting: ((line: string | Error) => void) | undefined;
  private stderr = '';
  private exited: Error | undefined;
  /** What the program's `{"ready": …}` line said (the address it serves or reads). */
  ready = '';

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      this.buffered += text;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        this.deliver(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => (this.stderr = (this.stderr + text).slice(-4000)));
    child.on('error', (err) => {
      this.exited ??= new Error(`${this.name} could not run: ${err.message}`);
      this.waiting?.(this.exited);
      this.waiting = undefined;
    });
    child.on('close', (code, signal) => {
      this.exited ??= new Error(`${this.name} exited (${signal ?? code}): ${this.stderr.trim() || 'no stderr'}`);
      this.waiting?.(this.exited);
      this.waiting = undefined;
    });
  }

  get name(): string {
    return String(this.child.spawnargs[1] ?? 'python');
  }

  /** Starts `script` (in this directory) and waits for its `{"ready": …}` line. */
  static async start(script: string, args: string[]): Promise<LineProcess> {
    const child = spawn(PYTHON, ['-B', join(here, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const started = new LineProcess(child);
    const first = await started.next();
    if (!('ready' in first)) throw new Error(`${script} did not start: ${JSON.stringify(first)}`);
    started.ready = String(first.ready);
    return started;
  }

  private deliver(line: string): void {
    if (this.waiting) {
      const wake = this.waiting;
      this.waiting = undefined;
      wake(line);
    } else this.lines.push(line);
  }

  private async next(): Promise<Record<string, unknown>> {
    const line = this.lines.shift() ?? (await new Promise<string | Error>((resolve) => (this.exited ? resolve(this.exited) : (this.waiting = resolve))));
    if (line instanceof Error) throw line;
    return JSON.parse(line) as Record<string, unknown>;
  }

  /** Sends one command and returns its answer. */
  async request(command: string): Promise<Record<string, unknown>> {
    if (this.exited) throw this.exited;
    this.child.stdin!.write(`${command}\n`);
    return this.next();
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin!.end('quit\n');
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await closed;
    clearTimeout(kill);
  }
}

/** How an `EnSightGRPC` reaches a {@link CoreFrameServer}. */
export type CoreServerTarget =
  | { grpcUdsPathname: string }
  | { host: string; port: number; grpcUseTcpSockets: true; grpcDisableTls: true };

/**
 * bench/grpc-core/frame_server.py on a private Unix socket (EnSight's client default), or with
 * `tcp` on a free port of 127.0.0.1 (`-grpc_server {port}`, plaintext).
 */
export class CoreFrameServer {
  private constructor(
    private readonly process: LineProcess,
    private readonly dir: string,
    /** For grpcio: `unix:/path.sock` or `127.0.0.1:port`. */
    readonly address: string,
    /** For `EnSightGRPC`'s options. */
    readonly target: CoreServerTarget,
  ) {}

  static async start(options: { tcp?: boolean } = {}): Promise<CoreFrameServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ensight-core-'));
    const udsPathname = join(dir, 'core');
    try {
      // EnSightGRPC's grpcUdsPathname is the path without the `.sock` it appends.
      const program = await LineProcess.start('frame_server.py', ['--address', options.tcp ? '127.0.0.1:0' : `unix:${udsPathname}.sock`]);
      if (!options.tcp) return new CoreFrameServer(program, dir, program.ready, { grpcUdsPathname: udsPathname });
      // The server answers with the port it bound.
      const port = Number(program.ready.slice(program.ready.lastIndexOf(':') + 1));
      return new CoreFrameServer(program, dir, program.ready, { host: '127.0.0.1', port, grpcUseTcpSockets: true, grpcDisableTls: true });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async configure(size: { width: number; height: number }, fps: number | 'max'): Promise<void> {
    await this.process.request(`size ${size.width} ${size.height}`);
    await this.process.request(`rate ${fps}`);
  }

  async stopFrames(): Promise<void> {
    await this.process.request('rate 0');
  }

  /** Publish times (CLOCK_MONOTONIC ns) of the frames made since the last call. */
  async publishTimes(): Promise<Map<number, bigint>> {
    const log = await this.process.request('log');
    return new Map(Object.entries(log).map(([frame, ns]) => [Number(frame), BigInt(ns as string)]));
  }

  async close(): Promise<void> {
    await this.process.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What the peer saw between `start` and `stop`. */
export interface PeerRecord {
  frames: number[];
  times: bigint[];
  cpuPct: number;
  verified: number;
  failed: number;
  reasons: string[];
  error: string | null;
}

/** bench/grpc-core/peer.py: grpcio reading GetImageStream as PyEnSight does. */
export class PyEnSightPeer {
  private constructor(private readonly process: LineProcess) {}

  static async start(address: string, options: { chunk: boolean; verify?: boolean }): Promise<PyEnSightPeer> {
    const args = ['--address', address, ...(options.chunk ? ['--chunk'] : []), ...(options.verify ? ['--verify'] : [])];
    return new PyEnSightPeer(await LineProcess.start('peer.py', args));
  }

  async start(): Promise<void> {
    await this.process.request('start');
  }

  async stop(): Promise<PeerRecord> {
    const r = await this.process.request('stop');
    return {
      frames: r.frames as number[],
      times: (r.times as string[]).map(BigInt),
      cpuPct: r.cpu_pct as number,
      verified: r.verified as number,
      failed: r.failed as number,
      reasons: r.reasons as string[],
      error: r.error as string | null,
    };
  }

  close(): Promise<void> {
    return this.process.close();
  }
}
