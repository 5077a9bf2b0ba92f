/**
 * Runs a TypeScript script in a child process of the current runtime (Node with tap's TypeScript
 * loader, Bun, or Deno with the runner's permissions): real processes, in every runtime the tests
 * run in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { runningUnder } from '../harness/mod.ts';

const DENO_PERMISSIONS = ['--allow-ffi', '--allow-read', '--allow-write', '--allow-env', '--allow-net', '--allow-run', '--allow-sys'];
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
