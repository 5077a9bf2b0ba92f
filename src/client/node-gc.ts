/**
 * An opt-in V8 setting for Node programs that read image streams over gRPC at high rates, and what
 * this project's own programs (`ensight-capture`, `ensight-emulator`, `npm run bench`) apply at
 * start.
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
 * moves that freeing onto the main thread.
 */
import { setFlagsFromString } from 'node:v8';
import { trace, traceOn } from '../trace.ts';

const FLAG = '--no-concurrent-array-buffer-sweeping';

let applied: boolean | undefined;

/**
 * In Node, sets V8's `--no-concurrent-array-buffer-sweeping` for this process (see the module doc:
 * it keeps high-rate gRPC image streams out of back-to-back full garbage collections). Returns
 * whether it was set; false in Bun (not V8) and Deno (which takes V8 flags only on its command
 * line: `deno run --v8-flags=--no-concurrent-array-buffer-sweeping`). It changes the whole
 * process's garbage collector, so it is the program's call: a library never calls it on its own.
 * Call it once at start, before streaming; further calls change nothing.
 */
export function tuneNodeGcForFrames(): boolean {
  if (applied !== undefined) return applied;
  // Bun and Deno both answer to node:v8 and process.versions.node: only their globals tell them apart.
  const runtime = globalThis as { Bun?: unknown; Deno?: unknown };
  applied = runtime.Bun === undefined && runtime.Deno === undefined;
  if (applied) {
    setFlagsFromString(FLAG);
    if (traceOn.client) trace('client', `V8 flag set for this process: ${FLAG}`);
  }
  return applied;
}
