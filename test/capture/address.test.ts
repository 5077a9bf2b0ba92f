// ensight-capture's --address, read by dial's one address parser and narrowed to what EnSight
// serves (a Unix socket named *.sock, or host:port): what it refuses, through capture() and the
// program, and an IPv6 host:port that records from a real emulator. Its TLS files are read by
// dial's one reader.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { capture, CaptureError } from '../../src/capture/mod.ts';
import { startEmulator, tempDir } from '../support/emulator.ts';
import { countingProxy } from '../dial/support.ts';
import { checkRecorded, startCli } from './support.ts';

const wants = (address: string) => `--address wants unix:/path/name.sock or host:port, got "${address}"`;
const sock = (address: string) => `a Unix socket address must end in ".sock" (EnSight's naming), got "${address}"`;

const REFUSED: Array<[string, string]> = [
  ['', wants('')],
  ['ensight', wants('ensight')],
  ['ensight:', wants('ensight:')],
  ['ensight:0', wants('ensight:0')],
  ['ensight:65536', wants('ensight:65536')],
  ['ensight:12a', wants('ensight:12a')],
  ['a:b:80', wants('a:b:80')],
  ['::1:80', wants('::1:80')],
  ['[::1]', wants('[::1]')],
  // Accepted by the old pattern (any text in brackets) and refused only when connecting; dial's
  // parser wants an IPv6 address there.
  ['[ensight]:80', wants('[ensight]:80')],
  ['grpc://127.0.0.1:80', wants('grpc://127.0.0.1:80')],
  ['http://127.0.0.1:80', wants('http://127.0.0.1:80')],
  ['/tmp/ensight.sock', wants('/tmp/ensight.sock')],
  [' unix:/tmp/ensight.sock', wants(' unix:/tmp/ensight.sock')],
  ['unix:/tmp/ensight', sock('unix:/tmp/ensight')],
  ['unix:', sock('unix:')],
  ['unix:/tmp/ensight.sock.old', sock('unix:/tmp/ensight.sock.old')],
];

t.test('capture(): a malformed --address is a usage error, and leaves no files', async (t) => {
  const out = tempDir(t, 'capture-address-');
  for (const [address, message] of REFUSED) {
    const err = await capture({ out, address, frames: 1 }).catch((e: unknown) => e);
    t.ok(err instanceof CaptureError, `"${address}": a CaptureError`);
    t.match(err, { code: 'CAPTURE_USAGE', exitCode: 2 }, `"${address}": a usage error`);
    t.equal((err as Error).message, message, `"${address}": says what it wants`);
  }
  t.strictSame(readdirSync(out), [], 'no sidecar left behind');
});

t.test('capture(): an unreadable TLS file is a usage error naming it', async (t) => {
  const out = tempDir(t, 'capture-tls-');
  const missing = join(out, 'absent-ca.crt');
  const err = await capture({ out, address: '127.0.0.1:50051', tls: { ca: missing }, frames: 1 }).catch((e: unknown) => e);
  t.match(err, { code: 'CAPTURE_USAGE', message: new RegExp(`^cannot read the TLS file ${missing}: .*ENOENT`) });
  t.notOk(existsSync(join(out, 'capture.json')), 'no sidecar left behind');
});

t.test('ensight-capture --address: refused with exit 2 and the same words', async (t) => {
  const out = tempDir(t, 'capture-cli-address-');
  for (const [address, message] of REFUSED.filter(([a]) => a === 'grpc://127.0.0.1:80' || a === 'unix:/tmp/ensight')) {
    const run = await startCli(['--address', address, '--out', out, '--frames', '1']).done;
    t.equal(run.code, 2, `"${address}": exit 2`);
    t.ok(run.stderr.includes(message), `"${address}": ${message}`);
  }
});

// Under Deno (2.9) grpc-js connections to a ::1 proxy are refused at times for the whole deadline
// (test/dial/address.test.ts says more); the IPv6 capture is checked in Node and Bun.
t.test('an IPv6 host:port records from the emulator behind it', { skip: runningUnder() === 'deno' ? "Deno's ::1 connections are refused at times" : false }, async (t) => {
  const emulator = await startEmulator(t, { tcp: true, flags: ['--stream-size', '64x48', '--frame-rate', '50'] });
  const v6 = await countingProxy(t, emulator.address, '::1');
  const out = tempDir(t, 'capture-ipv6-');
  const s = await capture({ out, address: v6.address, token: emulator.token, insecure: true, frames: 4, transport: 'grpc' });
  t.match(s, { status: 'complete', exitCode: 0, source: { address: v6.address }, transport: { used: 'grpc' } });
  t.equal(s.frames.recorded, 4);
  t.ok(v6.connections() > 0, 'through the server on ::1');
  checkRecorded(t, s);
});
