// Nothing left behind on a signal: a program with a shared-memory subscription that gets SIGINT,
// SIGTERM or SIGHUP without calling shutdown() leaves no file or directory behind and dies as the
// signal would have killed it; a program with its own handler keeps it (the exit hook cleans up).
import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import t from '../harness/mod.ts';
import { startEmulator, tempDir } from '../support/emulator.ts';
import { leftBehind, startProgram } from '../support/shmem-program.ts';

t.test('signals', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '64x48'] });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    await t.test(`${signal}: cleaned up, and the process dies of the signal`, async (t) => {
      const program = await startProgram(t, emulator, 'wait', tempDir(t));
      t.ok(existsSync(program.file), 'the shared file exists while the program runs');
      program.kill(signal);
      const result = await program.exit();
      t.not(result, 'killed', 'the program ended');
      if (result === 'killed') return;
      // 128 + signo: killed by the re-raised signal, or exited with the status it would have given.
      t.equal(result.status, 128 + constants.signals[signal], `ended as ${signal} ends a process (status ${result.status})`);
      leftBehind(t, program.file);
    });
  }

  await t.test('a program with its own SIGINT handler keeps it; the exit hook cleans up', async (t) => {
    const program = await startProgram(t, emulator, 'own-handler', tempDir(t));
    program.kill('SIGINT');
    const result = await program.exit();
    t.not(result, 'killed', 'the program ended');
    if (result === 'killed') return;
    const report = JSON.parse(/^\{"handlerRan".*$/m.exec(result.stdout)?.[0] ?? '{}') as Record<string, unknown>;
    t.strictSame(report, { handlerRan: true, fileExists: true }, 'its handler ran, with the subscription untouched');
    t.equal(result.status, 0, 'and exited as it chose to');
    leftBehind(t, program.file);
  });

});
