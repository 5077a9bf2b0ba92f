/**
 * V8 settings for Node processes that read image streams at high rates: `EnSightGRPC` applies them
 * when its first image path opens (unless `tuneNodeGc: false`), and this project's own programs
 * (`ensight-capture`, `ensight-emulator`, `npm run bench`) at start.
 *
 * Why: every 1080p gRPC frame brings ~12 MB of short-lived ArrayBuffers (Node's HTTP/2 reads and
 * grpc-js's per-message join). Node's V8 (11.x) counts external memory allocated since the last
 * mark-compact as old-generation growth when it decides whether to start marking, and young
 * ArrayBuffers are only freed by the scavenge that their own bytes force every ~32 MB. So a stream
 * keeps up to ~32 MB "allocated since the last mark-compact" at all times, however little it
 * keeps. Two settings keep that from turning into back-to-back full collections (~30 a second,
 * ~140 % CPU, a third to a half of the frame rate, for as long as the stream runs):
 *
 * - `--no-concurrent-array-buffer-sweeping`: V8 frees dead ArrayBuffers' memory on a background
 *   task, and their bytes stay counted until the main thread merges the result, at the next GC or
 *   ArrayBuffer allocation after the task has finished (heap/array-buffer-sweeper.cc); on a busy
 *   machine (2 vCPUs, the server on the same host) that task is late and the count runs away.
 *   Chunked 1080p `onImage` against a C-core server, 3 s runs: 11 of 36 runs stuck (63–130
 *   mark-compacts a run) with Node's defaults, none of 22 with it, same frame rate otherwise.
 * - `--heap-growing-percent=300`: the old-generation limit after a mark-compact is then 4x the live
 *   heap (V8's own largest growing factor, `kMaxGrowingFactor`) instead of a factor V8 derives
 *   from the old generation's allocation rate. A stream allocates almost nothing there, so V8's
 *   factor falls to its minimum (1.1x, at least +8 MB): the limit sits ~24 MB above the live heap,
 *   less than the stream's ~32 MB in flight, and marking starts again after every scavenge. Once a
 *   mark-compact runs mid-stream (leftovers of an earlier stream reach the external-memory limit,
 *   say), the process stays there. Whole 1080p frames against a C-core server, eight 3 s streams
 *   one after another in one process (fresh server and client each): with the first flag only,
 *   the later streams of every run stuck (50–130 mark-compacts a stream, 140–260 fps against
 *   300–380); with both, no mark-compact in 16 streams, 306–341 fps. Memory: the old generation may
 *   grow to 4x what is live before a full collection, as V8 allows itself when allocation is fast.
 *
 * Why the client sets them by default: a bench round that caught this client in that state read
 * 1080p gRPC frames at a third to a half of PyEnSight's grpcio reader's rate (with neither flag,
 * chunked frames in every full run; with the first only, whole frames in one round of two to most
 * rounds); with both, whole frames were ahead (1.07-1.11x) and chunked level (0.95-0.97x). They are
 * process-wide, so the client sets them only once it streams images (the workload they are for),
 * says so in the `client` trace, and leaves the process alone with `tuneNodeGc: false`. A
 * `--heap-growing-percent` given on the process's command line is kept.
 */
import process from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { currentRuntime } from '../runtime.ts';
import { trace, traceOn } from '../trace.ts';

const SWEEPING_FLAG = '--no-concurrent-array-buffer-sweeping';
const GROWING_FLAG = '--heap-growing-percent=300';

/** Whether the process was started with its own `--heap-growing-percent` (Node refuses it in NODE_OPTIONS). */
function growingGivenAtStart(): boolean {
  return process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

let applied: boolean | undefined;

/**
 * In Node, sets V8's `--no-concurrent-array-buffer-sweeping` and `--heap-growing-percent=300` for
 * this process (see the module doc: they keep high-rate gRPC image streams out of back-to-back
 * full garbage collections; a `--heap-growing-percent` given at start is kept). Returns whether
 * they were set; false in Bun (not V8) and Deno (which takes V8 flags only on its command line,
 * and should not get these: its V8 15 counts external memory differently, and the sweeping flag
 * made copied shared-memory frames 3x slower there). It changes the whole process's garbage
 * collector; `EnSightGRPC` calls it when an image path opens, unless told not to. Further calls
 * change nothing.
 */
export function tuneNodeGcForFrames(): boolean {
  if (applied !== undefined) return applied;
  // Bun and Deno both answer to node:v8 (see currentRuntime).
  applied = currentRuntime() === 'node';
  if (applied) {
    const flags = growingGivenAtStart() ? [SWEEPING_FLAG] : [SWEEPING_FLAG, GROWING_FLAG];
    for (const flag of flags) setFlagsFromString(flag);
    if (traceOn.client) trace('client', `V8 flags set for this process: ${flags.join(' ')}`);
  }
  return applied;
}
