/**
 * Under Deno, a permission the client needs and does not have is an error that names it
 * (`PERMISSION_DENIED`), not a connect() that quietly resolves false or a "refused". The child is
 * always Deno, whichever runtime runs this file.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { DENO_EXECUTABLE, runCommand } from '../support/child.ts';
import { tempDir } from '../support/temp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const child = join(root, 'test/fixtures/deno-permission-child.ts');

async function runChild(permissions: string[], args: string[]): Promise<{ outcome: { result?: unknown; code?: string; message?: string } | undefined; stderr: string }> {
  // stdin is not a terminal: Deno cannot prompt, as in CI or a service.
  const r = await runCommand(DENO_EXECUTABLE, ['run', '--no-prompt', ...permissions, child, ...args]);
  try {
    return { outcome: JSON.parse(r.stdout.trim().split('\n').pop() ?? ''), stderr: r.stderr };
  } catch {
    return { outcome: undefined, stderr: r.stderr };
  }
}

const READ_ENV_SYS = [`--allow-read`, '--allow-env', '--allow-sys'];

await t.test('TCP connect without --allow-net names the permission', async (t) => {
  const r = await runChild(READ_ENV_SYS, ['connect-tcp']);
  t.match(r.outcome, { code: 'PERMISSION_DENIED', message: /--allow-net=127\.0\.0\.1:9/ }, `PERMISSION_DENIED naming --allow-net${r.outcome ? '' : `: ${r.stderr.slice(-1500)}`}`);
});

await t.test('Unix-socket connect without --allow-write names the permission', async (t) => {
  const dir = tempDir(t);
  const pathname = join(dir, 'ensight');
  const r = await runChild([...READ_ENV_SYS, '--allow-net'], ['connect-uds', pathname]);
  t.match(r.outcome, { code: 'PERMISSION_DENIED', message: new RegExp(`--allow-write=${pathname}\\.sock`) }, `PERMISSION_DENIED naming --allow-write${r.outcome ? '' : `: ${r.stderr.slice(-1500)}`}`);
});

await t.test('startServer without --allow-run names the permission', async (t) => {
  const r = await runChild([...READ_ENV_SYS, '--allow-net'], ['start-server']);
  t.match(r.outcome, { code: 'PERMISSION_DENIED', message: /--allow-run=ensight-nowhere/ }, `PERMISSION_DENIED naming --allow-run${r.outcome ? '' : `: ${r.stderr.slice(-1500)}`}`);
});

await t.test('with the permissions, the same connect is an ordinary refusal: false', async (t) => {
  const r = await runChild([...READ_ENV_SYS, '--allow-net'], ['connect-tcp']);
  t.match(r.outcome, { result: false }, `connect() resolves false${r.outcome ? '' : `: ${r.stderr.slice(-1500)}`}`);
});
