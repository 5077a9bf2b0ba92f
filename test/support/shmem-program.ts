/**
 * Child programs for the exit-path tests: test/client/fixtures/shmem-exit.ts run in the current
 * runtime, each with a shared-memory subscription to the test's emulator.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestApi } from '../harness/mod.ts';
import { startScript, type Child, type ChildResult } from './child.ts';
import { eventually, type RunningEmulator } from './emulator.ts';

const script = fileURLToPath(new URL('../client/fixtures/shmem-exit.ts', import.meta.url));

export interface Program {
  child: Child;
  file: string;
  /** The child's exit, or `killed` when the safety net had to kill it (it would not exit). */
  exit(): Promise<ChildResult | 'killed'>;
}

export async function startProgram(t: TestApi, emulator: RunningEmulator, mode: string, shmemDirectory: string): Promise<Program> {
  const child = startScript(script, [mode, shmemDirectory, JSON.stringify(emulator.clientOptions)]);
  t.teardown(() => void child.process.kill('SIGKILL'));
  let stdout = '';
  child.process.stdout!.on('data', (d: Buffer) => (stdout += d));
  const exited = child.done.then(() => 'exited' as const);
  const ready = await Promise.race([eventually(() => /^ready$/m.test(stdout), 120_000, `${mode}: the program's first frame`), exited]);
  if (ready === 'exited') throw new Error(`${mode}: the program exited early: ${(await child.done).stderr.slice(-2000)}`);
  const file = (JSON.parse(/^\{"file".*$/m.exec(stdout)?.[0] ?? '{}') as { file?: string }).file ?? '';
  return {
    child,
    file,
    exit: async () => {
      // A safety net, not a measurement: a program kept alive by the client never exits by itself.
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.process.kill('SIGKILL');
      }, 90_000);
      const result = await child.done;
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
