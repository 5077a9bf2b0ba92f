// Nothing left behind: a program with a shared-memory subscription that ends without shutdown()
// (an uncaught exception, an unhandled rejection, process.exit(), returning) leaves no file or
// directory behind, and one that is done exits by itself. A process killed with SIGKILL cannot
// clean up: the next client sweeps what it left, and nothing else. (Signals: exit-signals.test.ts.)
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { connectedClient, startEmulator, tempDir } from '../support/emulator.ts';
import { leftBehind, startProgram } from '../support/shmem-program.ts';

t.test('exit paths', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '64x48'] });

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
      t.equal(result.status, mode === 'exit' ? 0 : 1, `exit status ${result.status}`);
      leftBehind(t, program.file);
    });
  }

  await t.test('a program that reads five frames and returns without shutdown() exits', async (t) => {
    const program = await startProgram(t, emulator, 'return', tempDir(t));
    const result = await program.exit();
    t.not(result, 'killed', 'the program exited by itself');
    if (result === 'killed') return;
    t.match(result.stdout, /read five frames/, 'after reading its five frames');
    t.equal(result.status, 0, 'with status 0');
    leftBehind(t, program.file);
  });

  await t.test('a program awaiting a frames() view stays until the frame comes, then exits by itself', async (t) => {
    const program = await startProgram(t, emulator, 'frames', tempDir(t));
    const result = await program.exit();
    t.not(result, 'killed', 'the program exited by itself');
    if (result === 'killed') return;
    t.match(result.stdout, /frames\(\) read frame \d+/, 'after reading the frame rendered later');
    t.equal(result.status, 0, `with status 0${result.status === 0 ? '' : `: ${result.stderr.slice(-1500)}`}`);
    leftBehind(t, program.file);
  });

  await t.test('a program awaiting shutdown() runs until it has resolved, the file removed by then', async (t) => {
    const program = await startProgram(t, emulator, 'shutdown', tempDir(t));
    const result = await program.exit();
    t.not(result, 'killed', 'the program exited by itself');
    if (result === 'killed') return;
    t.match(result.stdout, /"shutdown":"done"/, 'after shutdown() resolved');
    t.match(result.stdout, /"drained":false/, 'the event loop never ran dry while shutdown() was pending');
    t.match(result.stdout, /"fileExists":false/, 'the file was gone when shutdown() resolved');
    t.equal(result.status, 0, `with status 0${result.status === 0 ? '' : `: ${result.stderr.slice(-1500)}`}`);
    leftBehind(t, program.file);
  });

  await t.test('a new client sweeps what a SIGKILLed process left, and nothing else', async (t) => {
    const shmemDirectory = tempDir(t);
    const program = await startProgram(t, emulator, 'wait', shmemDirectory);
    program.kill('SIGKILL');
    await program.exit();
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
