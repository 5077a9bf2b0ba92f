// ENSIGHT_GRPC_TRACE: a child process dials a plaintext emulator; with `dial` (or `all`) in the
// variable its stderr carries timestamped dial lines (the TLS probe's verdict, the downgrade),
// with the variable unset or naming other components it carries none.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { startScript } from '../support/child.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/dial-plaintext.ts', import.meta.url));
const LINE = /^(\S+) \| ensight-grpc (\d+) \| (\w+) \| (.*)$/;

async function run(trace: string | undefined): Promise<{ lines: Array<{ time: string; pid: number; component: string; message: string }>; stdout: string; code: number | null }> {
  const { stdout, stderr, code } = await startScript(FIXTURE, [], { ENSIGHT_GRPC_TRACE: trace }).done;
  const lines = stderr
    .split('\n')
    .map((line) => LINE.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ time: m[1]!, pid: Number(m[2]), component: m[3]!, message: m[4]! }));
  return { lines, stdout, code };
}

for (const setting of ['shmem, DIAL', 'all']) {
  t.test(`ENSIGHT_GRPC_TRACE=${setting}: dial events on stderr`, async (t) => {
    const { lines, stdout, code } = await run(setting);
    t.equal(code, 0, 'the child dialled and exited cleanly');
    const { address } = JSON.parse(stdout.trim().split('\n').pop()!) as { address: string };
    const dial = lines.filter((l) => l.component === 'dial');
    t.match(dial, [
      { message: `TLS probe of ${address}: plaintext` },
      { message: `${address} is plaintext: downgrade allowed` },
    ]);
    for (const line of lines) {
      t.ok(!Number.isNaN(Date.parse(line.time)) && line.time.endsWith('Z'), `an ISO timestamp: ${line.time}`);
      t.ok(Number.isInteger(line.pid) && line.pid > 0, 'the process id');
    }
  });
}

for (const setting of [undefined, 'shmem,client']) {
  t.test(`ENSIGHT_GRPC_TRACE=${setting === undefined ? '(unset)' : JSON.stringify(setting)}: no dial lines`, async (t) => {
    const { lines, stdout, code } = await run(setting);
    t.equal(code, 0, 'the child dialled and exited cleanly');
    t.match(stdout, /"value":"42"/, 'the call went through');
    t.strictSame(lines.filter((l) => l.component === 'dial'), []);
  });
}
