// Capture times longer than a timer holds (2^31 - 1 ms, ~24.8 days: `--duration 600h`) are kept as
// given. Node, Bun and Deno fire such a timer after ~1 ms instead: the capture stopped at once for
// its duration or for idleness, and progress was reported every millisecond.
import t from '../harness/mod.ts';
import { capture } from '../../src/capture/mod.ts';
import { tempDir } from '../support/emulator.ts';

t.test('a duration, an idle timeout and a progress interval past 2^31 - 1 ms: the capture ends by its frame count', async (t) => {
  const out = tempDir(t, 'capture-long-');
  let reports = 0;
  const s = await capture({
    out,
    frames: 6,
    durationMs: 600 * 3_600_000,
    idleTimeoutMs: 2 ** 31,
    progressIntervalMs: 2 ** 31,
    onProgress: () => reports++,
    emulator: { width: 64, height: 48, fps: 100 },
    transport: 'grpc',
  });
  t.match(s, { status: 'complete', stopReason: 'frames', exitCode: 0 });
  t.equal(s.frames.recorded, 6);
  t.equal(reports, 0, 'no progress report: the first is due in ~24.8 days');
});
