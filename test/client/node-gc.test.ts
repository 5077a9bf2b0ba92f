// tuneNodeGcForFrames: in Node it sets V8's --no-concurrent-array-buffer-sweeping and
// --heap-growing-percent=300 for the process (a fresh child, so that this test process keeps V8's
// defaults; a growing percent given on the command line is kept) and says so, once, in the trace;
// in Bun and Deno it sets nothing and says false. ensight-capture applies it at start; EnSightGRPC
// when its first image path opens (not at connect), unless told not to with tuneNodeGc: false.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { runCommand, startScript } from '../support/child.ts';
import { startEmulator } from '../support/emulator.ts';
import { EnSightGRPC } from '../../src/mod.ts';

const probe = fileURLToPath(new URL('./fixtures/node-gc-probe.ts', import.meta.url));
const imagePathProbe = fileURLToPath(new URL('./fixtures/image-path-gc-probe.ts', import.meta.url));
const MARKER = 'probe: opening an image path\n';
const root = fileURLToPath(new URL('../..', import.meta.url));
const LINE = /^\S+ \| ensight-grpc \d+ \| client \| V8 flags set for this process: --no-concurrent-array-buffer-sweeping --heap-growing-percent=300$/m;

t.test('set in Node only, once, traced', async (t) => {
  const { code, stdout, stderr } = await startScript(probe, [], { ENSIGHT_GRPC_TRACE: 'client' }).done;
  t.equal(code, 0, stderr);
  const answer = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { first: boolean; second: boolean };
  const node = runningUnder() === 'node';
  t.strictSame(answer, { first: node, second: node }, node ? 'Node: set, and the second call says the same' : 'not V8 from JavaScript: nothing set');
  t.equal(stderr.match(new RegExp(LINE.source, 'gm'))?.length ?? 0, node ? 1 : 0, 'one trace line in Node, none elsewhere');
});

t.test('a --heap-growing-percent given on the command line is kept (Node)', { skip: runningUnder() !== 'node' && 'a Node command-line flag' }, async (t) => {
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const result = await runCommand(process.execPath, ['--heap-growing-percent=50', ...(loader.length ? loader : ['--import=@tapjs/typescript/import']), probe], {
    env: { ...process.env, ENSIGHT_GRPC_TRACE: 'client' },
    timeoutMs: 60_000,
  });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /\| client \| V8 flags set for this process: --no-concurrent-array-buffer-sweeping$/m, 'only the sweeping flag is set');
  t.notOk(/heap-growing-percent=300/.test(result.stderr), 'the given percent is not overridden');
});

t.test('ensight-capture sets it at start (Node)', { skip: runningUnder() !== 'node' && 'the built CLI runs in Node' }, async (t) => {
  const result = await runCommand(process.execPath, [join(root, 'dist/capture/cli.js'), '--version'], {
    env: { ...process.env, ENSIGHT_GRPC_TRACE: 'client' },
    timeoutMs: 60_000,
  });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /0\.\d+\.\d+/, 'the CLI ran');
  t.match(result.stderr, LINE, 'and set the flag first');
});

for (const path of ['stream', 'subscribe'] as const) {
  t.test(`EnSightGRPC sets it when an image path opens (${path}), and not with tuneNodeGc: false`, async (t) => {
    const emulator = await startEmulator(t);
    const node = runningUnder() === 'node';
    for (const tuneNodeGc of [undefined, false]) {
      const options = { ...emulator.clientOptions, ...(tuneNodeGc === undefined ? {} : { tuneNodeGc }) };
      const { code, stdout, stderr } = await startScript(imagePathProbe, [JSON.stringify(options), path], { ENSIGHT_GRPC_TRACE: 'client' }).done;
      t.equal(code, 0, stderr);
      t.match(stdout, /probe: done/, 'the probe opened the path and shut down');
      const at = stderr.indexOf(MARKER);
      t.ok(at >= 0, 'the probe marked when it opened the image path');
      const lines = (text: string) => text.match(new RegExp(LINE.source, 'gm'))?.length ?? 0;
      const expected = node && tuneNodeGc === undefined ? 1 : 0;
      t.equal(lines(stderr.slice(0, at)), 0, 'nothing set by connecting or a command');
      t.equal(lines(stderr.slice(at)), expected, tuneNodeGc === false ? 'tuneNodeGc: false: nothing set' : node ? 'set once the image path opened' : 'not V8 from JavaScript: nothing set');
    }
  });
}

t.test('tuneNodeGc must be a boolean', async (t) => {
  t.throws(() => new EnSightGRPC({ tuneNodeGc: 'no' as unknown as boolean }), { code: 'INVALID_ARGUMENT', message: /tuneNodeGc must be a boolean/ });
});
