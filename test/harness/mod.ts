/**
 * One test API for three runtimes.
 *
 * Under Node the tests run in tap itself (`import t from 'tap'`). tap cannot run under Bun (no
 * `node:v8` Serializer) or Deno (its call-site parser rejects Deno's stack frames), so there the
 * same files run on {@link MiniTap}: a small TAP producer that implements the subset of tap's `Test`
 * API our tests use, with the same semantics. Test files import `t` from here and never from tap.
 */
import { runningUnder } from './runtime.ts';
import { MiniTap } from './minitap.ts';
import type { TestApi } from './api.ts';

export type { TestApi, TestOptions } from './api.ts';
export { runningUnder } from './runtime.ts';

async function rootTest(): Promise<TestApi> {
  if (runningUnder() === 'node') {
    const tap = await import('tap');
    return tap.default as unknown as TestApi;
  }
  return MiniTap.root();
}

const t: TestApi = await rootTest();
export default t;
