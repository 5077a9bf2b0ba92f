// tuneNodeGcForFrames: in Node it sets V8's --no-concurrent-array-buffer-sweeping for the process
// (a fresh child, so that this test process keeps V8's defaults) and says so, once, in the trace;
// in Bun and Deno it sets nothing and says false. ensight-capture applies it at start.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { runCommand, startScript } from '../support/child.ts';

const probe = fileURLToPath(new URL('./fixtures/node-gc-probe.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const LINE = /^\S+ \| ensight-grpc \d+ \| client \| V8 flag set for this process: --no-concurrent-array-buffer-sweeping$/m;

t.test('set in Node only, once, traced', async (t) => {
  const { code, stdout, stderr } = await startScript(probe, [], { ENSIGHT_GRPC_TRACE: 'client' }).done;
  t.equal(code, 0, stderr);
  const answer = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { first: boolean; second: boolean };
  const node = runningUnder() === 'node';
  t.strictSame(answer, { first: node, second: node }, node ? 'Node: set, and the second call says the same' : 'not V8 from JavaScript: nothing set');
  t.equal(stderr.match(new RegExp(LINE.source, 'gm'))?.length ?? 0, node ? 1 : 0, 'one trace line in Node, none elsewhere');
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
