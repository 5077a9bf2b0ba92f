// ENSIGHT_GRPC_TRACE=shmem says when a consumer finds that its producer does not wake it (and its
// waits start predicting frames), which nothing else shows; without the variable it says nothing.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { startScript } from '../support/child.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/silent-traced.ts', import.meta.url));
const LINE = /^\S+ \| ensight-grpc \d+ \| shmem \| (.*)$/;

for (const setting of ['shmem', undefined]) {
  t.test(`a producer that never wakes, ENSIGHT_GRPC_TRACE=${setting ?? '(unset)'}`, async (t) => {
    const { stdout, stderr, code } = await startScript(FIXTURE, [], { ENSIGHT_GRPC_TRACE: setting }).done;
    t.equal(code, 0, `the fixture exited cleanly (${stderr.trim()})`);
    t.match(JSON.parse(stdout.trim().split('\n').pop()!), { received: 20, producerWakes: false }, 'every frame read; the consumer knows');
    const lines = stderr.split('\n').flatMap((line) => LINE.exec(line)?.slice(1, 2) ?? []);
    if (setting) {
      t.equal(lines.length, 1, 'one line: the producer kept not waking it');
      t.match(lines[0], /shmem_\d+\.bin: the producer published without waking this consumer: waits now look for each frame when it is due/);
    } else {
      t.strictSame(lines, [], 'no trace without the variable');
    }
  });
}
