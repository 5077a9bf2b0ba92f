// The bench's target checks: issue 11's ratios from rows of one run, and the runtime ratios
// (Bun/Deno over Node) between two runs' rows, on the shared-memory rows only.
import t from '../harness/mod.ts';
import { runtimeTargets, targets, type BenchRow } from '../../bench/lib/report.ts';

function row(transport: string, runtime: string, width: number, fps: number, p99 = 100): BenchRow {
  const height = width === 3840 ? 2160 : 1080;
  return {
    transport, runtime, width, height, fps, gbps: 0, p50_us: 50, p99_us: p99, max_us: p99, cpu_pct: 10, dropped: 0,
    memcpy_fps: 1000, idle_p50_us: 50, idle_p99_us: p99,
  };
}

t.test('runtime ratios: the non-Node runtime over Node, shared-memory rows only, either run first', async (t) => {
  const node = [row('shmem-zero-copy-sync', 'node', 1920, 1000), row('client-frames', 'node', 3840, 200), row('grpc-stream', 'node', 1920, 50), row('client-frames-25mib', 'node', 1920, 400)];
  const bun = [row('shmem-zero-copy-sync', 'bun', 1920, 900), row('client-frames', 'bun', 3840, 100), row('grpc-stream', 'bun', 1920, 10)];
  const checks = runtimeTargets(bun, node);
  t.strictSame(
    checks.map((c) => [c.what, c.value, c.met]),
    [
      ['Bun/Node fps, shmem-zero-copy-sync 1920x1080 (two runs)', 0.9, true],
      ['Bun/Node fps, client-frames 3840x2160 (two runs)', 0.5, false],
    ],
    'gRPC rows and rows only one run has are left out',
  );
  t.strictSame(runtimeTargets(node, bun).map((c) => c.value), [0.9, 0.5], 'the same ratios from the Node run');
  t.strictSame(runtimeTargets(node, node), [], 'two runs of one runtime give no ratio');
  const deno = [row('shmem-copy', 'deno', 1920, 500)];
  t.strictSame(runtimeTargets(deno, [row('shmem-copy', 'bun', 1920, 400)]), [], 'only ratios against Node');
  t.match(runtimeTargets(deno, [row('shmem-copy', 'node', 1920, 400)])[0], { what: /^Deno\/Node fps, shmem-copy/, value: 1.25, met: true });
});

t.test("issue 11's targets come from the rows of the run, each with met or missed", async (t) => {
  const rows = [
    row('shmem-zero-copy-sync', 'node', 1920, 1000, 100),
    row('shmem-zero-copy-async', 'node', 1920, 1000, 100),
    row('client-frames', 'node', 1920, 850, 150),
    row('shmem-zero-copy-sync', 'node', 3840, 300, 100),
    row('shmem-zero-copy-async', 'node', 3840, 300, 100),
    row('client-frames', 'node', 3840, 210, 250),
    row('core-grpc-stream', 'node', 1920, 100),
    row('core-peer-stream', 'node', 1920, 90),
    row('core-grpc-stream-chunked', 'node', 1920, 50),
    row('core-peer-stream-chunked', 'node', 1920, 60),
  ];
  const checks = new Map(targets(rows).map((c) => [c.what, c]));
  const expect = (what: string, value: number, met: boolean) => {
    const c = checks.get(what);
    t.ok(c, `${what}: reported`);
    if (c) t.strictSame([Math.round(c.value * 1000) / 1000, c.met], [value, met], what);
  };
  expect('client-frames / shmem-zero-copy-async fps (1080p)', 0.85, true);
  expect('client-frames / shmem-zero-copy-sync p99 publish→user (1080p)', 1.5, true);
  expect('client-frames / shmem-zero-copy-async fps (4K)', 0.7, false);
  expect('client-frames / shmem-zero-copy-async p99 publish→user (4K)', 2.5, false);
  expect('core-grpc-stream / PyEnSight-style peer fps (1080p)', 1.111, true);
  expect('core-grpc-stream-chunked / PyEnSight-style peer fps (1080p)', 0.833, false);
  t.notOk([...checks.keys()].some((w) => w.includes('/Node')), 'no runtime ratio without a second run');
});
