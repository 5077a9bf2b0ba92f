// Nothing left behind: a program with a shared-memory subscription that ends without shutdown()
// (a signal, an uncaught exception, process.exit(), returning) leaves no file or directory behind,
// dies as the signal would have killed it, keeps its own signal handler, and exits by itself once
// done. A process killed with SIGKILL cannot clean up: the next client sweeps what it left.
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { startScript, type Child, type ChildResult } from '../support/child.ts';
import { connectedClient, eventually, startEmulator, tempDir, type RunningEmulator } from '../support/emulator.ts';

const script = fileURLToPath(new URL('./fixtures/shmem-exit.ts', import.meta.url));

interface Program {
  child: Child;
  file: string;
  /** The child's exit, or `killed` when the safety net had to kill it (it would not exit). */
  exit(): Promise<ChildResult | 'killed'>;
}

async function startProgram(t: TestApi, emulator: RunningEmulator, mode: string, shmemDirectory: string): Promise<Program> {
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

function leftBehind(t: TestApi, file: string): void {
  t.ok(file.length > 0, 'the program reported its shared file');
  t.notOk(existsSync(file), 'the shared file is removed');
  t.notOk(existsSync(dirname(file)), 'and its private directory');
}

t.test('exit paths', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '64x48'] });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    await t.test(`${signal}: cleaned up, and the process dies of the signal`, async (t) => {
      const program = await startProgram(t, emulator, 'wait', tempDir(t));
      t.ok(existsSync(program.file), 'the shared file exists while the program runs');
      program.child.process.kill(signal);
      const result = await program.exit();
      t.not(result, 'killed', 'the program ended');
      if (result === 'killed') return;
      t.ok(result.signal === signal || result.code === 128 + constants.signals[signal], `ended by ${signal} (${result.signal ?? result.code})`);
      leftBehind(t, program.file);
    });
  }

  await t.test('a program with its own SIGINT handler keeps it; the exit hook cleans up', async (t) => {
    const program = await startProgram(t, emulator, 'own-handler', tempDir(t));
    program.child.process.kill('SIGINT');
    const result = await program.exit();
    t.not(result, 'killed', 'the program ended');
    if (result === 'killed') return;
    const report = JSON.parse(/^\{"handlerRan".*$/m.exec(result.stdout)?.[0] ?? '{}') as Record<string, unknown>;
    t.strictSame(report, { handlerRan: true, fileExists: true }, 'its handler ran, with the subscription untouched');
    t.equal(result.code, 0, 'and exited as it chose to');
    leftBehind(t, program.file);
  });

  for (const [mode, what] of [
    ['throw', 'an uncaught exception'],
    ['reject', 'an unhandled rejection'],
    ['exit', 'process.exit()'],
  ] as const) {
    await t.test(`${what}: cleaned up`, async (t) => {
      const program = await startProgram(t, emulator, mode, tempDir(t));
      const result = await program.exit();
      t.not(result, 'killed', 'the program ended');
      if (result === 'killed') return;
      t.equal(result.code, mode === 'exit' ? 0 : 1, `exit status ${result.code}`);
      leftBehind(t, program.file);
    });
  }

  await t.test('a program that reads five frames and returns without shutdown() exits', async (t) => {
    const program = await startProgram(t, emulator, 'return', tempDir(t));
    const result = await program.exit();
    t.not(result, 'killed', 'the program exited by itself');
    if (result === 'killed') return;
    t.match(result.stdout, /read five frames/, 'after reading its five frames');
    t.equal(result.code, 0, 'with status 0');
    leftBehind(t, program.file);
  });

  await t.test('a new client sweeps what a SIGKILLed process left, and nothing else', async (t) => {
    const shmemDirectory = tempDir(t);
    const program = await startProgram(t, emulator, 'wait', shmemDirectory);
    program.child.process.kill('SIGKILL');
    await program.child.done;
    t.ok(existsSync(program.file), 'SIGKILL leaves the file behind');
    // Neighbours the sweep must not touch: a live process's directory, a directory holding
    // something else, a link where a directory is expected, and a link inside a stale directory.
    const outside = join(tempDir(t), 'precious');
    writeFileSync(outside, 'keep me');
    const live = join(shmemDirectory, 'ensight-shmem-LIVE01');
    mkdirSync(live);
    writeFileSync(join(live, `shmem_${process.pid}.bin`), '');
    const foreign = join(shmemDirectory, 'ensight-shmem-OTHER1');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), '');
    symlinkSync(dirname(outside), join(shmemDirectory, 'ensight-shmem-LINK01'));
    const withLink = join(shmemDirectory, 'ensight-shmem-LINK02');
    mkdirSync(withLink);
    symlinkSync(outside, join(withLink, 'shmem_999999999.bin'));

    const c = await connectedClient(t, emulator);
    t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory }), { transport: 'shmem' });
    t.notOk(existsSync(program.file), "the dead process's file is swept");
    t.notOk(existsSync(dirname(program.file)), 'and its directory');
    t.ok(existsSync(join(live, `shmem_${process.pid}.bin`)), "a live process's directory is kept");
    t.ok(existsSync(join(foreign, 'notes.txt')), 'a directory holding something else is kept');
    t.ok(existsSync(join(shmemDirectory, 'ensight-shmem-LINK01')), 'a link is not followed');
    t.ok(existsSync(join(withLink, 'shmem_999999999.bin')), 'a link inside is not removed');
    t.equal(readdirSync(dirname(outside)).includes('precious'), true, 'and what links point to is untouched');
    await c.unsubscribe();
  });
});
