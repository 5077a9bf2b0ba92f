/**
 * Starting the emulator's CLI as a child process from Node, Bun or Deno, and waiting for its
 * ready line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { protoDirectory } from '../protocol/mod.ts';
import { currentRuntime, type Runtime } from '../runtime.ts';
import { setLongTimeout } from '../timers.ts';
import type { EmulatorAddress } from './emulator.ts';
import { EmulatorStartError } from './server.ts';

/**
 * Deno's permissions for the emulator: all of them. It runs Python for its callers (`--allow-run`
 * alone already grants as much as `--allow-all`), and its shared-memory file policy must lstat
 * every component of a client's path and fstat the file: Deno refuses JavaScript any access under
 * `/dev` (where clients put the file, `/dev/shm`) without `--allow-all`.
 */
const DENO_PERMISSIONS = ['--allow-all'];
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const STDERR_KEPT = 64 * 1024;

export interface EmulatorCommand {
  command: string;
  args: string[];
}

/** The package root: where `proto/`, `src/` and `dist/` live. */
function packageRoot(): string {
  return dirname(protoDirectory());
}

/** A JavaScript runtime the emulator's CLI can run in. */
export type EmulatorRuntime = Runtime;

/**
 * How to run the emulator's CLI: with the runtime executing this code (by default), or with
 * `runtime`, found as `node`, `bun` or `deno` on the PATH when it is not this one.
 */
export function emulatorCommand(runtime: EmulatorRuntime = currentRuntime()): EmulatorCommand {
  const self = runtime === currentRuntime();
  const source = join(packageRoot(), 'src', 'emulator', 'cli.ts');
  const compiled = join(packageRoot(), 'dist', 'emulator', 'cli.js');
  if (runtime === 'deno') {
    const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
    // Deno runs whichever form this module is in: the TypeScript source in a checkout, the compiled
    // JavaScript in an installed package (Deno strips no types under node_modules).
    return { command: self ? deno!.execPath() : 'deno', args: ['run', ...DENO_PERMISSIONS, import.meta.url.endsWith('.ts') ? source : compiled] };
  }
  if (runtime === 'bun') return { command: self ? process.execPath : 'bun', args: [source] };
  if (!existsSync(compiled)) throw new EmulatorStartError(`ensight-emulator: ${compiled} is missing; run \`npm run build\` first`);
  return { command: self ? process.execPath : 'node', args: [compiled] };
}

export interface EmulatorLaunchOptions {
  /** Added to (undefined: removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** How long to wait for the ready line; default 30 s. */
  timeoutMs?: number;
  /** The runtime the emulator runs in; default: the one running this code (see {@link emulatorCommand}). */
  runtime?: EmulatorRuntime;
  /**
   * Runs it in a process group (and session) of its own, so that a signal to this process's group
   * (a terminal's Ctrl-C) does not reach it: the launcher stops it when it is done. It still exits
   * when the launcher dies (the pipe on its standard input closes). Default false.
   */
  detached?: boolean;
}

export interface LaunchedEmulator extends EmulatorAddress {
  pid: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Spawns `ensight-emulator <flags>` and resolves with its ready line. */
export function launchEmulator(flags: readonly string[], options: EmulatorLaunchOptions = {}): Promise<LaunchedEmulator> {
  const { command, args } = emulatorCommand(options.runtime);
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  // stdin is a pipe the emulator watches (--exit-with-parent): if this process dies without
  // stopping it, the pipe closes and the emulator exits instead of living on as an orphan.
  const child = spawn(command, [...args, ...flags, '--exit-with-parent'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: !!options.detached });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT);
  });
  const stop = async (): Promise<void> => {
    if (exited(child)) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exit;
    clearTimeout(kill);
  };
  return new Promise<LaunchedEmulator>((resolve, reject) => {
    let stdout = '';
    let settled = false;
    const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      cancelTimer();
      void stop().then(() => reject(new EmulatorStartError(`ensight-emulator ${why}${stderr ? `:\n${stderr.trim()}` : ''}`)));
    };
    // The caller's wait, however long: a plain setTimeout fires at once past ~24.8 days.
    const cancelTimer = setLongTimeout(() => fail(`printed no ready line within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`could not start (${command}): ${err.message}`));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
    child.stdout!.setEncoding('utf8');
    // Read on after the ready line too: a full pipe would block the emulator.
    child.stdout!.on('data', (text: string) => {
      if (settled) return;
      stdout += text;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      const line = stdout.slice(0, newline);
      let ready: EmulatorAddress & { pid: number };
      try {
        ready = JSON.parse(line) as EmulatorAddress & { pid: number };
      } catch {
        fail(`printed a ready line that is not JSON: ${line}`);
        return;
      }
      settled = true;
      cancelTimer();
      resolve({ ...ready, pid: child.pid ?? ready.pid, process: child, stop });
    });
  });
}
