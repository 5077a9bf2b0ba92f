// The output directory: --overwrite replaces the previous capture of the name as a whole (the files
// it wrote, never others), only once the new capture has started; --out naming a file.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { capture, type CaptureSummary } from '../../src/capture/mod.ts';
import { startEmulator, tempDir } from '../support/emulator.ts';
import { checkRecorded, startCli } from './support.ts';

const emulator = { width: 64, height: 48, fps: 100 };

function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

function pngs(n: number, name = 'capture', segment = '000'): string[] {
  return Array.from({ length: n }, (_, i) => `${name}-${segment}-${String(i).padStart(6, '0')}.png`);
}

t.test('--overwrite with fewer frames: only the new capture\'s files remain, others untouched', async (t) => {
  const out = tempDir(t, 'capture-ow-');
  await capture({ out, format: 'png', frames: 20, pngWorkers: 2, emulator });
  t.equal(files(out).length, 21, 'the first capture: 20 PNGs and the sidecar');
  // Not the capture's: what the printed ffmpeg command made, another name's frames, notes.
  const others = ['capture-000.mp4', 'notes.txt', 'other-000-000007.png', 'other.json'];
  for (const file of others) writeFileSync(join(out, file), 'not the capture\'s');
  const s = await capture({ out, format: 'png', frames: 5, pngWorkers: 2, emulator, overwrite: true });
  t.match(s, { status: 'complete', exitCode: 0 });
  t.strictSame(files(out), [...pngs(5), 'capture.json', ...others].sort(), 'the 5 new PNGs, the sidecar, and the files that were not the capture\'s');
  checkRecorded(t, s);
});

t.test('--overwrite replaces a capture of another format, its files by its sidecar', async (t) => {
  const out = tempDir(t, 'capture-ow-format-');
  await capture({ out, format: 'png', frames: 6, pngWorkers: 1, emulator });
  const s = await capture({ out, frames: 3, emulator, overwrite: true });
  t.match(s, { status: 'complete', exitCode: 0 });
  t.strictSame(files(out), ['capture-000.rgb', 'capture.json'], 'the PNGs went with their capture');
  checkRecorded(t, s);
});

t.test('--overwrite after a killed capture (its sidecar still "recording"): its files by the name\'s pattern', async (t) => {
  const out = tempDir(t, 'capture-ow-killed-');
  mkdirSync(out, { recursive: true });
  // What a capture killed mid-way leaves: the sidecar written at the start, frames, a half-written sidecar.
  const killed = { format: 'ensight-capture', version: 1, status: 'recording', output: { directory: out, format: 'png' }, segments: [] };
  writeFileSync(join(out, 'capture.json'), JSON.stringify(killed));
  for (const file of [...pngs(9), ...pngs(2, 'capture', '001'), 'capture.json.partial']) writeFileSync(join(out, file), 'x');
  writeFileSync(join(out, 'capture-000.rgb'), 'not a png: not that capture\'s');
  const s = await capture({ out, format: 'png', frames: 2, pngWorkers: 1, emulator, overwrite: true });
  t.match(s, { status: 'complete', exitCode: 0 });
  t.strictSame(files(out), [...pngs(2), 'capture-000.rgb', 'capture.json'].sort());
  checkRecorded(t, s);
});

t.test('--overwrite whose start fails (a wrong token) leaves the previous capture whole', async (t) => {
  const ensight = await startEmulator(t, { flags: ['--stream-size', '64x48', '--frame-rate', '50'] });
  const out = tempDir(t, 'capture-ow-fail-');
  const first = await capture({ out, address: ensight.address, token: ensight.token, format: 'png', frames: 4, pngWorkers: 1 });
  t.equal(first.status, 'complete');
  const before = files(out);
  const sidecar = readFileSync(join(out, 'capture.json'), 'utf8');
  await t.rejects(capture({ out, address: ensight.address, token: 'wrong', format: 'png', frames: 2, overwrite: true }), { code: 'CAPTURE_SOURCE' });
  t.strictSame(files(out), before, 'every file of the previous capture is still there');
  t.equal(readFileSync(join(out, 'capture.json'), 'utf8'), sidecar, 'and its sidecar unchanged');
  checkRecorded(t, JSON.parse(sidecar) as CaptureSummary);
});

t.test('--out naming a regular file: says it is a file, not a directory (exit 4), with or without --overwrite', async (t) => {
  const dir = tempDir(t, 'capture-outfile-');
  const file = join(dir, 'afile');
  writeFileSync(file, 'x');
  for (const extra of [[], ['--overwrite']]) {
    const result = await startCli(['--size', '64x48', '--frames', '2', '--out', file, ...extra]).done;
    t.equal(result.code, 4, `exit 4 ${extra.join(' ')}`);
    t.match(result.stderr, /^ensight-capture: cannot use \S*afile as the output directory: it is a file, not a directory/);
    t.notOk(/--overwrite|--name/.test(result.stderr), 'no advice about names or overwriting');
  }
  t.equal(readFileSync(file, 'utf8'), 'x', 'the file is untouched');
  t.notOk(existsSync(`${file}.json`));
});
