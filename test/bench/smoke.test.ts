// `npm run bench -- --quick` end to end in this runtime, on a tiny frame size and a few
// transports: the table prints, the JSON rows have the documented shape, the SVG is a chart; the
// runtimes, the frame API and the C-core rows take turns and are judged from them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { tempDir } from '../support/temp.ts';
import { startScript } from '../support/child.ts';
import { pythonGrpcMissing } from '../../bench/grpc-core/processes.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'bench/run.ts');

t.test('bench --quick writes the table, JSON rows and an SVG chart', async (t) => {
  const dir = tempDir(t);
  const json = join(dir, 'rows.json');
  const svg = join(dir, 'chart.svg');
  // Deno 2.9's HTTP/2 can abort the process when a peer's GOAWAY ends a session (deno#36788),
  // as the reverse-gRPC row's callback server sees at the end of a free-running burst.
  const transports = [
    'memcpy',
    'shmem-zero-copy-sync',
    'shmem-zero-copy-async',
    'shmem-copy',
    'grpc-stream-chunked',
    ...(runningUnder() === 'deno' ? [] : ['grpc-subscription']),
  ].join(',');
  const out = await startScript(script, ['--quick', '--sizes', '160x120', '--transports', transports, '--json-file', json, '--svg-file', svg]).done;
  t.equal(out.code, 0, `bench exits 0${out.code ? `: ${out.stderr.slice(-2000)}` : ''}`);
  t.match(out.stdout, /\| transport +\| size/, 'prints the table');
  t.match(out.stderr, /\[\d+\/\d+\] shmem-zero-copy-sync 160x120/, 'shows progress');
  const rows = JSON.parse(readFileSync(json, 'utf8')) as Array<Record<string, unknown>>;
  t.strictSame(
    rows.map((r) => r.transport),
    transports.split(','),
    'one row per transport, in order',
  );
  const keys = ['transport', 'runtime', 'width', 'height', 'fps', 'gbps', 'p50_us', 'p99_us', 'max_us', 'cpu_pct', 'dropped', 'memcpy_fps', 'idle_p50_us', 'idle_p99_us'];
  for (const row of rows) {
    t.strictSame(Object.keys(row).sort(), [...keys].sort(), `${row.transport}: the documented fields`);
    t.match(row, { runtime: runningUnder(), width: 160, height: 120 });
    t.ok((row.fps as number) > 0 && (row.memcpy_fps as number) > 0, `${row.transport}: frames moved`);
    t.equal(typeof row.dropped, 'number');
    if (row.transport !== 'memcpy') t.ok(typeof row.p50_us === 'number' && (row.p50_us as number) > 0, `${row.transport}: a latency`);
  }
  const chart = readFileSync(svg, 'utf8');
  t.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, 'an SVG document');
  t.ok((chart.match(/<rect /g) ?? []).length >= rows.length, 'a bar per row');
});

t.test('bench --runtimes: both runtimes take turns and the ratios come out of the one run', { skip: runningUnder() !== 'node' && 'driven from Node once is enough' }, async (t) => {
  const dir = tempDir(t);
  const json = join(dir, 'runtimes.json');
  const out = await startScript(script, ['--runtimes', 'node,bun', '--rounds', '2', '--quick', '--sizes', '160x120', '--transports', 'memcpy,shmem-copy', '--json-file', json]).done;
  t.equal(out.code, 0, `bench exits 0${out.code ? `: ${out.stderr.slice(-2000)}` : ''}`);
  t.match(out.stdout, /shmem-copy\s+160x120\s+\d+\s+\d+\s+\d+\.\d\d \(\d+\.\d\d \d+\.\d\d\)/, 'a row with both runtimes and a ratio a round');
  t.match(out.stdout, /(met |MISS) Bun\/Node fps, shmem-copy 160x120 \(median of 2, rounds/, 'the target, judged');
  t.ok(!/Bun\/Node fps, memcpy/.test(out.stdout), 'memcpy is shown, not judged');
  const saved = JSON.parse(readFileSync(json, 'utf8')) as { runtimes: string[]; rounds: number; samples: Array<{ round: number; runtime: string; rows: Array<{ transport: string }> }> };
  t.strictSame(saved.runtimes, ['node', 'bun']);
  t.strictSame(saved.samples.map((s) => [s.round, s.runtime]), [[1, 'node'], [1, 'bun'], [2, 'bun'], [2, 'node']], 'turns, the order reversed in round 2');
  for (const s of saved.samples) t.strictSame(s.rows.map((r) => r.transport), ['memcpy', 'shmem-copy'], `round ${s.round}, ${s.runtime}: its rows`);
});

t.test('bench: this client and the PyEnSight-style peer take turns, and the peer target is judged from them', { skip: (runningUnder() !== 'node' && 'driven from Node once is enough') || (pythonGrpcMissing() ?? false) }, async (t) => {
  const dir = tempDir(t);
  const json = join(dir, 'rows.json');
  const rows = 'core-grpc-stream-chunked,core-peer-stream-chunked';
  const out = await startScript(script, ['--quick', '--rounds', '2', '--sizes', '160x120', '--transports', rows, '--json-file', json, '--svg-file', join(dir, 'chart.svg')]).done;
  t.equal(out.code, 0, `bench exits 0${out.code ? `: ${out.stderr.slice(-2000)}` : ''}`);
  t.match(out.stdout, /core-grpc-stream-chunked\s+\d+\s+core-peer-stream-chunked\s+\d+\s+\d+\.\d\d \(\d+\.\d\d \d+\.\d\d\)/, 'the table: both rows and a ratio a round');
  t.match(out.stdout, /(met |MISS) core-grpc-stream-chunked \/ core-peer-stream-chunked fps \(160x120, median of 2, rounds/, 'the target, judged from the turns');
  t.ok(!/PyEnSight-style peer fps/.test(out.stdout), 'not from the single pass');
  const saved = JSON.parse(readFileSync(join(dir, 'rows-peer-turns.json'), 'utf8')) as { width: number; rounds: number; samples: Array<{ round: number; transport: string; fps: number }> };
  t.equal(saved.width, 160);
  t.equal(saved.rounds, 2);
  t.strictSame(
    saved.samples.map((s) => [s.round, s.transport]),
    [[1, 'core-grpc-stream-chunked'], [1, 'core-peer-stream-chunked'], [2, 'core-peer-stream-chunked'], [2, 'core-grpc-stream-chunked']],
    'turns, the order reversed in round 2',
  );
  t.ok(saved.samples.every((s) => s.fps > 0), 'frames moved in every turn');
});

t.test('bench: the frame API and the raw zero-copy rows take turns, and the API targets are judged from them', async (t) => {
  const dir = tempDir(t);
  const json = join(dir, 'rows.json');
  const rows = 'shmem-zero-copy-sync,client-frames';
  const out = await startScript(script, ['--quick', '--rounds', '2', '--sizes', '160x120', '--transports', rows, '--json-file', json, '--svg-file', join(dir, 'chart.svg')]).done;
  t.equal(out.code, 0, `bench exits 0${out.code ? `: ${out.stderr.slice(-2000)}` : ''}`);
  t.match(out.stdout, /160x120\s+shmem-zero-copy-sync\s+\d+\s+\d+\s+\d+\.\d\d \(\d+\.\d\d \d+\.\d\d\)\s+\d+\s+\d+\s+\d+\.\d\d \(\d+\.\d\d \d+\.\d\d\)\s+\d+\.\d\d\s+\d+\.\d\d/, 'the table: fps and p99 ratios a round, and the late shares');
  t.match(out.stdout, /(met |MISS) client-frames \/ shmem-zero-copy-sync fps \(160x120, median of 2, rounds/, 'the fps target, judged from the turns');
  t.match(out.stdout, /(met |MISS) client-frames \/ shmem-zero-copy-sync p99 publish→user \(160x120, median of 2, rounds/, 'the p99 target, judged from the turns');
  const saved = JSON.parse(readFileSync(join(dir, 'rows-api-turns.json'), 'utf8')) as { rounds: number; samples: Array<{ round: number; transport: string; width: number; fps: number; p99_us: number | null; late_pct: number | null }> };
  t.equal(saved.rounds, 2);
  t.strictSame(
    saved.samples.map((s) => [s.round, s.transport, s.width]),
    [[1, 'client-frames', 160], [1, 'shmem-zero-copy-sync', 160], [2, 'shmem-zero-copy-sync', 160], [2, 'client-frames', 160]],
    'turns, the order reversed in round 2',
  );
  t.ok(saved.samples.every((s) => s.fps > 0 && typeof s.p99_us === 'number' && s.p99_us > 0), 'frames moved and were timed in every turn');
  t.ok(saved.samples.every((s) => typeof s.late_pct === 'number' && s.late_pct >= 0 && s.late_pct <= 100), 'a late share in every turn');
});

t.test('bench --runtimes needs Node and another runtime', async (t) => {
  const out = await startScript(script, ['--runtimes', 'bun']).done;
  t.equal(out.code, 2, 'a usage error');
  t.match(out.stderr, /--runtimes compares with Node/);
});
