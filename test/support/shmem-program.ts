/**
 * Child programs for the exit-path tests: test/client/fixtures/shmem-exit.ts run in the current
 * runtime, each with a shared-memory subscription to the test's emulator.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { TestApi } from '../harness/mod.ts';
import { scriptCommand } from './child.ts';
import { eventually, type RunningEmulator } from './emulator.ts';

const script = fileURLToPath(new URL('../client/fixtures/shmem-exit.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ProgramExit {
  /**
   * The exit status as a shell sees it: the code, or 128 + the signal number for a process a
   * signal killed. Read by a shell around the program rather than from child_process, which under
   * Deno reports a child that exited 0 after a SIGINT as killed by SIGINT.
   */
  status: number;
  stdout: string;
  stderr: string;
}

export interface Program {
  file: string;
  /** Sends `signal` to the program itself (not to the shell around it). */
  kill(signal: NodeJS.Signals): void;
  /** The program's exit, or `killed` when the safety net had to kill it (it would not exit). */
  exit(): Promise<ProgramExit | 'killed'>;
}

export async function startProgram(t: TestApi, emulator: RunningEmulator, mode: string, shmemDirectory: string): Promise<Program> {
  const [command, args] = scriptCommand(script, [mode, shmemDirectory, JSON.stringify(emulator.clientOptions)]);
  const shell = spawn('/bin/sh', ['-c', '"$@"; echo "exit-status $?" >&2', 'sh', command, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  shell.stdout!.on('data', (d: Buffer) => (stdout += d));
  shell.stderr!.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<ProgramExit>((resolve) =>
    shell.on('close', () => resolve({ status: Number(/exit-status (\d+)/.exec(stderr)?.[1] ?? -1), stdout, stderr })),
  );
  let pid: number | undefined;
  const kill = (signal: NodeJS.Signals) => {
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // exited already
    }
  };
  t.teardown(() => {
    kill('SIGKILL');
    shell.kill('SIGKILL');
  });
  const exited = done.then(() => 'exited' as const);
  const ready = await Promise.race([eventually(() => /^ready$/m.test(stdout), 120_000, `${mode}: the program's first frame`), exited]);
  // A program that ends right after its `ready` (exit, throw, reject) may be gone before the next
  // look at its output: what it wrote is all there once it has closed.
  if (ready === 'exited' && !/^ready$/m.test(stdout)) throw new Error(`${mode}: the program exited early: ${stderr.slice(-2000)}`);
  const started = JSON.parse(/^\{"file".*$/m.exec(stdout)?.[0] ?? '{}') as { file?: string; pid?: number };
  pid = started.pid;
  return {
    file: started.file ?? '',
    kill,
    exit: async () => {
      // A safety net, not a measurement: a program kept alive by the client never exits by itself.
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        kill('SIGKILL');
      }, 90_000);
      const result = await done;
      clearTimeout(timer);
      return killed ? 'killed' : result;
    },
  };
}

export function leftBehind(t: TestApi, file: string): void {
  t.ok(file.length > 0, 'the program reported its shared file');
  t.notOk(existsSync(file), 'the shared file is removed');
  t.notOk(existsSync(dirname(file)), 'and its private directory');
}
