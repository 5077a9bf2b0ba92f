/**
 * The shared-memory files a client creates do not outlive its process, on any exit JavaScript
 * can see: a normal exit, `process.exit()`, an uncaught exception, SIGINT, SIGTERM, SIGHUP. And a
 * new client sweeps what processes that died without a chance to clean up (SIGKILL, a crash)
 * left behind.
 *
 * The host program's own signal handling is not taken over: a signal it listens for is left to
 * it (its handler decides, and the `exit` cleanup runs when it exits). A signal nobody else
 * listens for gets the default behaviour after the cleanup: the handler removes itself and
 * raises the signal again, so the process dies of it (status 128 + signal number).
 */
import { lstatSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';

/** The private directory the addon makes (mkdtemp) and the file in it, `shmem_<pid>.bin`. */
const DIRECTORY = /^ensight-shmem-[A-Za-z0-9]{6}$/;
const FILE = /^shmem_(\d+)\.bin$/;
/** An empty directory younger than this may be one another process is still filling. */
const FRESH_MS = 60_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type CleanupSignal = (typeof SIGNALS)[number];

interface LiveFile {
  file: string;
  /** Closes what maps the file, before it is removed. */
  close: (() => void) | undefined;
}

/** Directory -> file, for every shared file of this process not yet removed. */
const live = new Map<string, LiveFile>();
let hooked = false;

/** Removes `file` and its private directory; never follows a link, ignores what is already gone. */
function removeSharedFile(file: string): void {
  try {
    if (lstatSync(file).isFile()) unlinkSync(file);
  } catch {
    // gone already
  }
  try {
    rmdirSync(dirname(file));
  } catch {
    // gone already, or holds something we did not make: left alone
  }
}

function removeAll(): void {
  for (const { file, close } of live.values()) {
    try {
      // Closed here, while the runtime is whole: the addon's consumer left to the runtime's
      // teardown with its waiter thread started hangs or crashes the exit (Node, Bun).
      close?.();
    } catch {
      // removed below all the same
    }
    removeSharedFile(file);
  }
  live.clear();
}

/**
 * Listeners of the `signal-exit` package (used by many tools) per signal: like ours, they run
 * exit hooks and re-raise only when no one else listens, so they are not the program's own
 * handling (counting them as such, each side would wait for the other and the signal would do
 * nothing). Version 4 keeps its count on `globalThis`, version 3 on `process`.
 */
function signalExitListeners(): number {
  const p = process as unknown as Record<string | symbol, unknown>;
  const count = (emitter: unknown): number => {
    const n = (emitter as { count?: unknown } | undefined)?.count;
    return typeof n === 'number' ? n : 0;
  };
  const g = globalThis as unknown as Record<symbol, unknown>;
  return count(g[Symbol.for('signal-exit emitter')]) + count(p.__signal_exit_emitter__);
}

function onSignal(signal: CleanupSignal): void {
  // Another listener is the program's own: it decides what the signal means (and may go on
  // using the subscription); the exit hook cleans up when it exits.
  if (process.listenerCount(signal) - 1 - signalExitListeners() > 0) return;
  removeAll();
  setHooked(false);
  // With no listener left the runtime restores the default action: the process dies of the signal.
  process.kill(process.pid, signal);
  // Still here: another listener (signal-exit) or the runtime caught it; exit as the default
  // action would have.
  process.exit(128 + (constants.signals[signal] ?? 0));
}

const signalHandlers = new Map<CleanupSignal, () => void>(SIGNALS.map((s) => [s, () => onSignal(s)]));

/** Deno emits no `exit` for an uncaught error or rejection; its global events see them. */
function denoGlobal(): { addEventListener?: EventTarget['addEventListener']; removeEventListener?: EventTarget['removeEventListener'] } | undefined {
  const g = globalThis as { Deno?: unknown } & Partial<EventTarget>;
  return g.Deno !== undefined ? g : undefined;
}

/** Installs (or removes) the exit, signal and Deno error hooks; idempotent either way. */
function setHooked(on: boolean): void {
  if (hooked === on) return;
  hooked = on;
  const listen = on ? process.on.bind(process) : process.removeListener.bind(process);
  listen('exit', removeAll);
  for (const [signal, handler] of signalHandlers) listen(signal, handler);
  const deno = denoGlobal();
  const listenDeno = on ? deno?.addEventListener?.bind(deno) : deno?.removeEventListener?.bind(deno);
  listenDeno?.('error', removeAll);
  listenDeno?.('unhandledrejection', removeAll);
}

/**
 * Removes `file` (and its private directory) whenever this process exits, after calling `close`,
 * until the returned function is called (the owner removed it itself). The hooks exist only while
 * a file is tracked.
 */
export function removeOnExit(file: string, close?: () => void): () => void {
  live.set(dirname(file), { file, close });
  setHooked(true);
  return () => {
    live.delete(dirname(file));
    if (live.size === 0) setHooked(false);
  };
}

/** Where the addon makes its directories when none is given: `/dev/shm` when usable, else the temp dir. */
export function defaultSharedDirectory(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return process.env.TMPDIR || '/tmp';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the shared-memory directories under `base` that processes now dead left behind: named
 * as the addon names them, owned by this user, real directories (links are never followed),
 * holding nothing but `shmem_<pid>.bin` of a pid that no longer runs. Returns what was removed.
 */
export function sweepStaleSharedFiles(base: string = defaultSharedDirectory()): string[] {
  const uid = process.getuid?.();
  if (uid === undefined) return [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!DIRECTORY.test(name)) continue;
    const dir = join(base, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid || live.has(dir)) continue;
      const entries = readdirSync(dir);
      // A directory made a moment ago may not hold its file yet.
      if (entries.length === 0 && Date.now() - st.mtimeMs < FRESH_MS) continue;
      const pids = entries.map((e) => FILE.exec(e)?.[1]);
      if (pids.some((p) => p === undefined)) continue; // not only ours: not touched
      const owners = pids.map(Number);
      if (owners.some((pid) => pid === process.pid || processAlive(pid))) continue;
      for (const entry of entries) {
        const file = join(dir, entry);
        const fst = lstatSync(file);
        if (fst.isFile() && fst.uid === uid) unlinkSync(file);
      }
      rmdirSync(dir);
      removed.push(dir);
    } catch {
      // raced with its owner or another sweeper, or not ours to remove: left alone
    }
  }
  return removed;
}
