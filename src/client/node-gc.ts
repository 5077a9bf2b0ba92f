/**
 * A V8 setting for Node processes that read image streams at high rates: `EnSightGRPC` applies it
 * when its first image path opens (unless `tuneNodeGc: false`), and this project's own programs
 * (`ensight-capture`, `ensight-emulator`, `npm run bench`) at start.
 *
 * Why: every 1080p gRPC frame brings ~6 MB of short-lived ArrayBuffers (Node's HTTP/2 reads and
 * grpc-js's per-message join). V8 frees dead ArrayBuffers' memory on a background task and, until
 * that task has run, counts it against the old generation's limit; when a busy machine (2 vCPUs,
 * the server on the same host) delays the task, V8 starts a full mark-compact, which delays it
 * further. A process then stays in back-to-back mark-compacts (~30 a second, ~130 % CPU, 50–70 fps
 * at 1080p instead of 150–190) for as long as it streams. Measured against a C-core server, chunked
 * 1080p `onImage`, 3 s runs, Node 20: 11 of 36 runs stuck (63–130 mark-compacts a run) with Node's
 * defaults, none of 22 with `--no-concurrent-array-buffer-sweeping` (given on the command line, or
 * set at start as here; at worst 35 in a run), at the same frame rate otherwise. The flag only
 * moves that freeing onto the main thread. V8's source agrees (heap/array-buffer-sweeper.cc): a
 * concurrent sweep's freed bytes leave the external-memory count only when the main thread merges
 * the sweep's result, at the next GC or ArrayBuffer allocation after the task has finished.
 *
 * Why the client sets it by default: without it, chunked gRPC frames lost to PyEnSight's grpcio
 * reader by 2-4x in every full bench run (1080p); with it they were level or ahead (0.99-1.06x).
 * It is process-wide, so the client sets it only once it streams images (the workload it is
 * for), says so in the `client` trace, and leaves the process alone with `tuneNodeGc: false`.
 */
import { setFlagsFromString } from 'node:v8';
import { currentRuntime } from '../runtime.ts';
import { trace, traceOn } from '../trace.ts';

const FLAG = '--no-concurrent-array-buffer-sweeping';

let applied: boolean | undefined;

/**
 * In Node, sets V8's `--no-concurrent-array-buffer-sweeping` for this process (see the module doc:
 * it keeps high-rate gRPC image streams out of back-to-back full garbage collections). Returns
 * whether it was set; false in Bun (not V8) and Deno (which takes V8 flags only on its command
 * line: `deno run --v8-flags=--no-concurrent-array-buffer-sweeping`). It changes the whole
 * process's garbage collector; `EnSightGRPC` calls it when an image path opens, unless told not
 * to. Further calls change nothing.
 */
export function tuneNodeGcForFrames(): boolean {
  if (applied !== undefined) return applied;
  // Bun and Deno both answer to node:v8 (see currentRuntime).
  applied = currentRuntime() === 'node';
  if (applied) {
    setFlagsFromString(FLAG);
    if (traceOn.client) trace('client', `V8 flag set for this process: ${FLAG}`);
  }
  return applied;
}
