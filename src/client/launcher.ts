/**
 * Launching EnSight (or anything that takes EnSight's flags, such as our emulator) the way
 * EnSight's client does: `ensight<version> -batch -grpc_server <port> …`, with the security token
 * in the environment only, never on the command line where `ps` would show it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import process from 'node:process';
import { EnSightError } from '../errors.ts';

export interface LaunchOptions {
  /** Program to run instead of `ensight<version>`, e.g. the emulator's runtime. */
  executable?: string;
  /** Arguments placed before EnSight's own flags (e.g. the emulator script). */
  executableArgs?: string[];
  /** Extra environment for the server. `ENSIGHT_SECURITY_TOKEN` is always set by the client. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface EnSightFlags {
  version: string;
  port: number;
  grpcUseTcpSockets: boolean;
  grpcAllowNetworkConnections: boolean;
  grpcDisableTls: boolean;
  grpcUdsPathname: string | undefined;
}

export function ensightFlags(f: EnSightFlags): string[] {
  const args = ['-batch', '-grpc_server', String(f.port)];
  if (f.grpcUseTcpSockets) args.push('-grpc_use_tcp_sockets');
  if (f.grpcAllowNetworkConnections) args.push('-grpc_allow_network_connections');
  if (f.grpcDisableTls) args.push('-grpc_disable_tls');
  if (f.grpcUdsPathname !== undefined) args.push('-grpc_uds_pathname', f.grpcUdsPathname);
  return args;
}

/** A launched server process and what it said on stderr, for error messages. */
export class ServerProcess {
  private stderrTail = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private hasExited = false;

  private constructor(private readonly child: ChildProcess) {
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    // The server's stdout is not ours to print, but it must be drained or it can block.
    this.child.stdout?.resume();
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.hasExited = true;
        resolve({ code, signal });
      });
    });
  }

  static async launch(flags: EnSightFlags, token: string, options: LaunchOptions = {}): Promise<ServerProcess> {
    const executable = options.executable ?? `ensight${flags.version}`;
    const child = spawn(executable, [...(options.executableArgs ?? []), ...ensightFlags(flags)], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, ENSIGHT_SECURITY_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new EnSightError(`cannot launch ${executable}: ${err.message}`, 'LAUNCH_FAILED', { cause: err })),
      );
    });
    return new ServerProcess(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.hasExited;
  }

  /** What the server printed on stderr last (at most 4000 characters). */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Wait up to `graceMs` for the process to end on its own, then terminate it. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.hasExited) return;
    const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref?.());
    if ((await Promise.race([this.exited, timeout(graceMs)])) !== 'timeout') return;
    this.child.kill('SIGTERM');
    if ((await Promise.race([this.exited, timeout(2000)])) !== 'timeout') return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
