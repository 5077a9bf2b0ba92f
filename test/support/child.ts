/**
 * Runs a TypeScript script in a child process of the current runtime (Node with tap's TypeScript
 * loader, Bun, or Deno with the runner's permissions): real processes, in every runtime the tests
 * run in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { runningUnder } from '../harness/mod.ts';

export const DENO_PERMISSIONS: string[] = ['--allow-ffi', '--allow-read', '--allow-write', '--allow-env', '--allow-net', '--allow-run', '--allow-sys'];
const root = fileURLToPath(new URL('../..', import.meta.url));

function commandFor(script: string, args: string[]): string[] {
  switch (runningUnder()) {
    case 'deno':
      return ['run', ...DENO_PERMISSIONS, script, ...args];
    case 'bun':
      return ['run', script, ...args];
    default: {
      const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
      return [...(loader.length ? loader : ['--import=@tapjs/typescript/import']), script, ...args];
    }
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  process: ChildProcess;
  /** Resolves when the child exits. */
  done: Promise<ChildResult>;
}

/** The executable and arguments that run `script` with `args` in the current runtime. */
export function scriptCommand(script: string, args: string[]): [string, string[]] {
  return [process.execPath, commandFor(script, args)];
}

/** Starts the script at `script` (a path) with `args`; `env` is added to (undefined: removed from) this process's environment. */
export function startScript(script: string, args: string[], env: Record<string, string | undefined> = {}): Child {
  const childEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const child = spawn(process.execPath, commandFor(script, args), { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { process: child, done };
}

/** Deno's executable: the devDependency's platform binary (as scripts/run-tests.mjs finds it), else PATH's. */
export const DENO_EXECUTABLE: string =
  [join(root, 'node_modules/.bin/deno'), join(root, 'node_modules/@deno/linux-x64-glibc/deno')].find((p) => existsSync(p)) ?? 'deno';

/** Bun's executable: the devDependency. */
export const BUN_EXECUTABLE: string = join(root, 'node_modules/.bin/bun');

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time, for reports only: tests never assert on it. */
  ms: number;
}

/**
 * Runs `command` to completion, collecting its output. `timeoutMs` is a safety net against a hung
 * child (it is killed and the result reports it), never a verdict on speed.
 */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const env: Record<string, string | undefined> = { NO_COLOR: '1', ...(options.env ?? process.env) };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const child = spawn(command, args, { cwd: options.cwd ?? root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}`, ms: Date.now() - started });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The process exists (signal 0 probes it without touching it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
