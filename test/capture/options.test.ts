// capture()'s options checked up front (CAPTURE_USAGE naming the option, nothing created), and
// errors the CLI reports as one clean line: TLS asked for without certificates is CAPTURE_SOURCE.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { capture, CaptureError, type CaptureOptions } from '../../src/capture/mod.ts';
import { EnSightError } from '../../src/errors.ts';
import { tempDir } from '../support/emulator.ts';
import { startCli } from './support.ts';

t.test('every option is checked before anything starts: CAPTURE_USAGE, naming the option', async (t) => {
  const dir = tempDir(t, 'capture-options-');
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ format: 'avi' }, /format must be one of raw, png, mp4, mkv, got "avi"/],
    [{ transport: 'carrier-pigeon' }, /transport must be one of shmem, grpc, stream, got "carrier-pigeon"/],
    [{ emulator: { width: 100.5, height: 48 } }, /frame width .* must be a whole number/],
    [{ emulator: { width: 64, height: 0 } }, /frame height .* must be a whole number within 1\.\.16384, got 0/],
    [{ emulator: { fps: Infinity } }, /frame rate .* got Infinity/],
    [{ emulator: { fps: Number.NaN } }, /frame rate .* got NaN/],
    [{ emulator: { size: 3 } }, /emulator takes width, height and fps, not "size"/],
    [{ videoFps: Infinity }, /videoFps .* must be a finite number/],
    [{ videoFps: 0 }, /videoFps/],
    [{ durationMs: Infinity }, /duration .* got Infinity/],
    [{ idleTimeoutMs: -1 }, /idle timeout/],
    [{ frames: 2.5 }, /frames must be a whole number/],
    [{ frames: '10' }, /frames must be a whole number .* got "10"/],
    [{ every: 0 }, /every must be a whole number/],
    [{ queueFrames: 1e9 }, /queueFrames .* within 1\.\.10000/],
    [{ pngWorkers: 0 }, /pngWorkers/],
    [{ pngLevel: 10 }, /pngLevel .* within 0\.\.9/],
    [{ verify: 'yes' }, /verify must be true or false/],
    [{ overwrite: 1 }, /overwrite must be true or false/],
    [{ address: 12345 }, /address must be a string/],
    [{ tls: { ca: 1 } }, /tls\.ca must be a string/],
    [{ name: 'a/b' }, /--name may hold/],
    [{ progressIntervalMs: 0 }, /progressIntervalMs/],
    [{ onProgress: 'print' }, /onProgress must be a function/],
    [{ signal: {} }, /signal must be an AbortSignal/],
  ];
  for (const [options, message] of bad) {
    const out = join(dir, 'never');
    const err = await capture({ out, frames: 1, ...options } as unknown as CaptureOptions).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof CaptureError && err.code === 'CAPTURE_USAGE' && err.exitCode === 2, `${JSON.stringify(options)}: CAPTURE_USAGE (${String(err)})`);
    t.match((err as Error | undefined)?.message, message, `${JSON.stringify(options)}: says what is wrong`);
    t.notOk(existsSync(out), 'nothing was created');
  }
  await t.rejects(capture({ out: '' }), { code: 'CAPTURE_USAGE' }, 'out is required');
  await t.rejects(capture(undefined as unknown as CaptureOptions), { code: 'CAPTURE_USAGE' }, 'options are required');
});

// TLS material is looked for in the environment and in ./certs: none here.
const NO_CERTS = { ANSYS_GRPC_CERTIFICATES: '', GRPC_CLIENT_CERT: '', GRPC_CLIENT_KEY: '', GRPC_CA_CERT: '' };

t.test('TLS without certificates: CAPTURE_SOURCE caused by the client\'s error; the CLI prints one line, exit 1', async (t) => {
  const dir = tempDir(t, 'capture-tls-');
  const result = await startCli(['--address', '127.0.0.1:1', '--token', 'T', '--duration', '3s', '--out', join(dir, 'shots')], NO_CERTS, { cwd: dir }).done;
  t.equal(result.code, 1, 'exit 1');
  t.match(result.stderr, /^ensight-capture: cannot connect to EnSight at 127\.0\.0\.1:1: TLS is enabled but no ca was found/);
  t.equal(result.stderr.trim().split('\n').length, 1, `one line, no stack trace: ${result.stderr}`);
  t.notOk(existsSync(join(dir, 'shots', 'capture.json')), 'no sidecar left from a capture that never began');

  const saved = { ...process.env };
  Object.assign(process.env, NO_CERTS);
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => {
    process.chdir(cwd);
    for (const key of Object.keys(NO_CERTS)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  const err = await capture({ out: join(dir, 'api'), address: '127.0.0.1:1', token: 'T', durationMs: 1000 }).catch((e: unknown) => e);
  t.ok(err instanceof CaptureError && err.code === 'CAPTURE_SOURCE' && err.exitCode === 1, `CAPTURE_SOURCE: ${String(err)}`);
  t.ok((err as Error).cause instanceof EnSightError && ((err as Error).cause as EnSightError).code === 'TLS_MATERIAL_MISSING', 'its cause is the client\'s TLS_MATERIAL_MISSING');
});
