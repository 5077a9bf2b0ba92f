// Copied into a blank project that installed the packed tarball, and run there by Node (as is),
// Bun and Deno (as check.ts): the installed emulator in a separate process, the installed client
// subscribed to its images with `useShmem`, ten frames whose per-row stamps verify. Prints one
// JSON line; test/install/tarball.test.ts asserts on it.
//
//   <runtime> check <socket pathname>
import { EnSightGRPC } from 'ensight-grpc';
import { launchEmulator, verifyFrame } from 'ensight-grpc/emulator';

const FRAMES = 10;
const pathname = process.argv[process.argv.length - 1];
const emulator = await launchEmulator(['-grpc_uds_pathname', pathname, '--frame-rate', '30'], { timeoutMs: 120_000 });
const ensight = new EnSightGRPC({ grpcUdsPathname: pathname });
const result = { transport: '', fallbackReason: '', verified: 0, failures: [] };
try {
  if (!(await ensight.connect({ timeoutMs: 60_000 }))) throw new Error(`no connection to ${emulator.address}`);
  const subscription = await ensight.subscribeImages({ useShmem: true });
  result.transport = subscription.transport;
  result.fallbackReason = subscription.fallbackReason ?? '';
  for await (const frame of ensight.images()) {
    const verdict = verifyFrame(frame.pixels, frame.width, frame.height);
    if (verdict.ok) result.verified++;
    else result.failures.push(verdict.reason);
    if (result.verified + result.failures.length === FRAMES) break;
  }
} finally {
  await ensight.shutdown();
  await emulator.stop();
}
console.log(JSON.stringify(result));
