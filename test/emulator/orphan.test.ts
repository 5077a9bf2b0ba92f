// An emulator whose launcher dies without stopping it (a crash, SIGKILL) exits by itself: it
// watches the pipe on its standard input instead of living on as an orphan.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { processAlive as alive, startScript } from '../support/child.ts';
import { eventually } from '../support/emulator.ts';
import { tempDir } from '../support/temp.ts';

t.test('the emulator exits when the process that launched it is killed', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/launch-and-wait.ts', import.meta.url));
  const launcher = startScript(script, [join(tempDir(t), 'orphan')]);
  t.teardown(() => void launcher.process.kill('SIGKILL'));
  let stdout = '';
  launcher.process.stdout!.on('data', (d: Buffer) => (stdout += d));
  const { pid } = JSON.parse(await eventually(() => /\{"pid":\d+\}/.exec(stdout)?.[0], 30_000, 'the emulator pid')) as { pid: number };
  t.ok(alive(pid), 'the emulator runs');
  launcher.process.kill('SIGKILL');
  await launcher.done;
  await eventually(() => !alive(pid), 15_000, 'the orphaned emulator to exit');
  t.notOk(alive(pid), 'and exits once its launcher is gone');
});
