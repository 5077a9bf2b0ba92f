// ENSIGHT_GRPC_TRACE=client: what the client does that no caller would otherwise see leaves a line
// on stderr. Here a server's image stream outgrows the frame it declared: the stream fails with
// BAD_FRAME, and with `client` traced a line says the frame was dropped and why; without it,
// nothing client-side is written.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { startScript } from '../support/child.ts';
import { HostileServer } from '../support/hostile-server.ts';

const probeScript = fileURLToPath(new URL('./fixtures/hostile-probe.ts', import.meta.url));
const LINE = /^\S+ \| ensight-grpc \d+ \| client \| (.*)$/gm;
// Not under Deno (2.9): its nghttp2 aborts, at times, the process hosting the raw HTTP/2 hostile
// server after the client resets the stream and leaves (assertion find_stream_on_goaway_func; seen
// here in a fresh-clone run, as in lent-frames.test.ts). The client's trace is plain JavaScript,
// run by Node and Bun.
const denoAborts = runningUnder() === 'deno' ? "Deno's nghttp2 aborts the hostile server's process at times" : false;

async function clientLines(trace: string | undefined): Promise<{ lines: string[]; result: Record<string, unknown> }> {
  const server = await HostileServer.start({ capBytes: 32 * 1024 * 1024 });
  try {
    const { stdout, stderr } = await startScript(probeScript, [String(server.port), 'image-stream'], { ENSIGHT_GRPC_TRACE: trace }).done;
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    return { lines: [...stderr.matchAll(LINE)].map((m) => m[1]!), result };
  } finally {
    await server.close();
  }
}

t.test('traced: the dropped frame is on stderr with its reason', { skip: denoAborts }, async (t) => {
  const { lines, result } = await clientLines('client');
  t.match(result, { outcome: 'rejected', code: 'BAD_FRAME' }, 'the stream failed as without tracing');
  t.ok(
    lines.some((line) => /^GetImageStream: frame dropped, the stream ends: .*declares/.test(line)),
    `a client line names the dropped frame: ${JSON.stringify(lines)}`,
  );
});

t.test('untraced: no client lines', { skip: denoAborts }, async (t) => {
  const { lines, result } = await clientLines(undefined);
  t.match(result, { outcome: 'rejected', code: 'BAD_FRAME' });
  t.strictSame(lines, []);
});
