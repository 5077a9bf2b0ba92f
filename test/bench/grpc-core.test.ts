// The bench's C-core gRPC frame server (grpcio) and PyEnSight-style peer: the server's frames
// carry the emulator's stamp and verify through this client (images() and frames(), whose chunked
// frames are joined into pooled buffers), whole and chunked, over a Unix socket and over TCP, and
// the peer reads and verifies them too. Skipped, saying why, where Debian's python3-grpcio is missing.
import t from '../harness/mod.ts';
import { EnSightGRPC } from '../../src/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import { CoreFrameServer, PyEnSightPeer, pythonGrpcMissing } from '../../bench/grpc-core/processes.ts';

const missing = pythonGrpcMissing();
const size = { width: 64, height: 48 };

// Unix socket (EnSight's client default) in every combination; TCP (the bench's -tcp rows) once each way.
const cases = [
  ...[false, true].flatMap((chunk) => (['images', 'frames'] as const).map((api) => ({ chunk, api, tcp: false }))),
  { chunk: true, api: 'frames' as const, tcp: true },
  { chunk: false, api: 'images' as const, tcp: true },
];

for (const { chunk, api, tcp } of cases) {
  const through = api === 'images' ? 'images()' : `frames() views${chunk ? ', pooled buffers' : ''}`;
  t.test(`C-core server frames verify through EnSightGRPC ${through} (${chunk ? 'chunked' : 'whole'}, ${tcp ? 'TCP' : 'Unix socket'})`, { skip: missing ?? false }, async (t) => {
    const server = await CoreFrameServer.start({ tcp });
    t.teardown(() => server.close());
    // Frames a little over one chunk each, so the chunked stream really is in pieces.
    const big = chunk ? { width: 640, height: 540 } : size;
    await server.configure(big, 'max');
    const client = new EnSightGRPC(server.target);
    t.teardown(() => client.shutdown());
    t.ok(await client.connect({ timeoutMs: 15_000 }), 'connects to the C-core server');
    const frames = api === 'images' ? client.images() : client.frames();
    client.imageStreamEnable({ chunk });
    const numbers: number[] = [];
    const failures: string[] = [];
    for await (const frame of frames) {
      const verdict = verifyFrame(frame.pixels, frame.width, frame.height);
      if (verdict.ok) numbers.push(verdict.frameNumber);
      else failures.push(verdict.reason);
      if ('release' in frame) frame.release();
      if (numbers.length + failures.length >= 30) break;
    }
    t.strictSame(failures, [], 'every frame verifies');
    t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), 'frame numbers increase');
    const published = await server.publishTimes();
    t.ok(numbers.every((n) => published.has(n)), 'every frame seen is in the publish log');
  });
}

for (const { chunk, tcp } of [{ chunk: false, tcp: false }, { chunk: true, tcp: false }, { chunk: true, tcp: true }]) {
  t.test(`the PyEnSight-style peer reads and verifies the stream (${chunk ? 'chunked' : 'whole'}, ${tcp ? 'TCP' : 'Unix socket'})`, { skip: missing ?? false }, async (t) => {
    const server = await CoreFrameServer.start({ tcp });
    t.teardown(() => server.close());
    t.match(server.address, tcp ? /^127\.0\.0\.1:[1-9]\d*$/ : /^unix:\//, 'the address the server bound');
    await server.configure(size, 50);
    const peer = await PyEnSightPeer.start(server.address, { chunk, verify: true });
    t.teardown(() => peer.close());
    await peer.start();
    let record = await peer.stop();
    // Generous: the peer's first frames need a connection; poll until some arrived.
    for (let i = 0; i < 100 && record.frames.length < 5; i++) {
      await peer.start();
      await new Promise((r) => setTimeout(r, 200));
      record = await peer.stop();
    }
    t.equal(record.error, null, 'the stream did not fail');
    t.ok(record.frames.length >= 5, `frames arrived (${record.frames.length})`);
    t.equal(record.failed, 0, `no stamp failed${record.reasons.length ? `: ${record.reasons.join('; ')}` : ''}`);
    t.equal(record.verified, record.frames.length, 'every frame verified');
    t.equal(record.times.length, record.frames.length, 'a seen time per frame');
  });
}
