// ENSIGHT_GRPC_TRACE=dial shows what a channel does out of sight: a refused bearer token and the
// new one fetched for the retried call, a lost connection, every reconnect attempt with its cause,
// giving up. A child process runs the channel (test/dial/fixtures/traced-channel.ts); with the
// variable unset its stderr carries no dial lines.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { startScript } from '../support/child.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/traced-channel.ts', import.meta.url));
const LINE = /^\S+ \| ensight-grpc \d+ \| dial \| (.*)$/;

interface Run {
  dial: string[];
  address: string;
  values: string[];
  state: string;
  code: number | null;
  /** How the child ended, and its last words, for a failure's message. */
  ending: string;
}

async function run(trace: string | undefined): Promise<Run> {
  const { stdout, stderr, code, signal } = await startScript(FIXTURE, [], { ENSIGHT_GRPC_TRACE: trace }).done;
  const dial = stderr.split('\n').flatMap((line) => LINE.exec(line)?.[1] ?? []);
  const last = stdout.trim().split('\n').pop() || '{}';
  const ending = `exit ${code}, signal ${signal}, stderr: ${stderr.slice(-2000)}`;
  return { dial, code, ending, address: '', values: [], state: '', ...(JSON.parse(last) as Partial<Run>) };
}

t.test('ENSIGHT_GRPC_TRACE=dial: token refusals and refreshes, the lost connection, each reconnect attempt', async (t) => {
  const { dial, address, values, state, code, ending } = await run('dial');
  t.equal(code, 0, `the child ran to its end (${code === 0 ? 'exit 0' : ending})`);
  t.strictSame(values, ['2', '4'], 'both calls went through');
  t.equal(state, 'closed');
  const has = (pattern: RegExp, what: string) => t.ok(dial.some((line) => pattern.test(line)), `${what}: ${pattern}`);
  const quoted = address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  has(new RegExp(`^${quoted}: bearer token fetched \\(connection 1\\)$`), 'the token of the first connection');
  has(new RegExp(`^${quoted} refused the bearer token on /ensightservice\\.EnSightService/RunPython: the next call fetches another$`), 'the refusal');
  has(new RegExp(`^${quoted}: fetching a bearer token for /ensightservice\\.EnSightService/RunPython$`), 'the refresh');
  has(new RegExp(`^${quoted}: RunPython is retried once, with a new bearer token$`), 'the retry');
  has(new RegExp(`^connection 1 to ${quoted} lost: lost the connection to ${quoted}$`), 'the loss and its cause');
  has(new RegExp(`^reconnecting to ${quoted}: attempt 1 in \\d+ ms \\(lost the connection to ${quoted}\\)$`), 'attempt 1, caused by the loss');
  has(new RegExp(`^reconnect attempt 1 to ${quoted} failed: .+`), 'attempt 1 failing');
  has(new RegExp(`^reconnecting to ${quoted}: attempt 2 in \\d+ ms \\(.+\\)$`), 'attempt 2, with the cause of the failed attempt 1');
  has(new RegExp(`^gave up reconnecting to ${quoted} after 2 attempts: .+`), 'giving up');
  const reconnecting = dial.filter((line) => line.startsWith('reconnecting to '));
  t.equal(reconnecting.length, 2, 'one line per attempt');
});

t.test('ENSIGHT_GRPC_TRACE unset: the same run, no dial lines', async (t) => {
  const { dial, values, code, ending } = await run(undefined);
  t.equal(code, 0, `the child ran to its end (${code === 0 ? 'exit 0' : ending})`);
  t.strictSame(values, ['2', '4']);
  t.strictSame(dial, []);
});
