/**
 * RunPython's interpreter: one persistent `python3` child running `python/runner.py`, spoken to
 * with length-prefixed JSON (see the runner's docstring for the protocol and the `ensight`
 * facade). Calls are serialized, as EnSight blocks while busy. When the child dies, the call it
 * was running fails (error {@link PYTHON_DIED}) and the next call starts a fresh interpreter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { errorText } from '../errors.ts';
import { protoDirectory } from '../protocol/mod.ts';

/** `PythonReply.error` when the Python code raised; `value` holds the traceback. */
export const PYTHON_RAISED = -1;
/** `PythonReply.error` when the interpreter could not start or died during the call. */
export const PYTHON_DIED = -2;

/** The runner ships in the package's `src/`, which sits beside `proto/` at the package root. */
export function pythonRunnerPath(): string {
  return join(dirname(protoDirectory()), 'src', 'emulator', 'python', 'runner.py');
}

/** A side effect queued by the `ensight` facade, applied by the emulator after the call. */
export type PythonEffect =
  | { op: 'render' }
  | { op: 'anim_step'; steps: number }
  | { op: 'rotate'; x: number; y: number; z: number }
  | { op: 'event'; suffix: string }
  | { op: 'frame_rate'; fps: number | 'max' }
  | { op: 'stream_size'; width: number; height: number }
  | { op: 'exit'; code: number };

export interface PythonOutcome {
  value: string;
  error: number;
  effects: PythonEffect[];
}

export interface PythonInterpreterOptions {
  /** The interpreter to run; default `python3`. */
  executable?: string;
  /** Where user output (print) goes: the emulator's stderr, or nowhere. */
  userOutput?: 'inherit' | 'ignore';
  /** What `ensight.objs` and `ensight.version('CEI_HOME')` report (see the runner's docstring). */
  scene?: { parts: readonly string[]; variables: readonly string[]; ceiHome: string };
}

/** The caller of one command, as far as the interpreter cares: is it still waiting? */
export interface PythonCaller {
  /** Why the caller no longer wants the result (deadline passed, cancelled), or undefined. */
  gone(): string | undefined;
  /** Registers what to do when the caller goes away while its command runs. */
  onGone(listener: () => void): void;
}

/**
 * The call was not run: its caller had gone (deadline passed, cancelled) before its turn. A plain
 * Error, not an EnSightError: it never leaves the emulator, whose RunPython handler turns it into
 * the CANCELLED or DEADLINE_EXCEEDED status the caller sees.
 */
export class PythonCallerGone extends Error {
  override name = 'PythonCallerGone';
}

interface PendingCall {
  resolve(outcome: PythonOutcome): void;
}

const HEADER_BYTES = 4;

function isEffect(value: unknown): value is PythonEffect {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  const numbers = (...keys: string[]) => keys.every((k) => typeof e[k] === 'number' && Number.isFinite(e[k]));
  switch (e.op) {
    case 'render':
      return true;
    case 'anim_step':
      return numbers('steps');
    case 'rotate':
      return numbers('x', 'y', 'z');
    case 'event':
      return typeof e.suffix === 'string';
    case 'frame_rate':
      return e.fps === 'max' || numbers('fps');
    case 'stream_size':
      return numbers('width', 'height');
    case 'exit':
      return numbers('code');
    default:
      return false;
  }
}

/**
 * A lone UTF-16 surrogate, which a Python str may hold (`'\ud800'`) and the runner's JSON carries
 * as an escape: protobufjs would write it into a proto3 `string` as bytes that are not UTF-8, and
 * a strict client (grpcio, C++ protobuf) then refuses the whole message (an event stream dies).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` as valid UTF-8 can carry it: each lone surrogate becomes U+FFFD, as Python's own error text has it. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function parseReply(body: Buffer): PythonOutcome {
  const reply = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  if (typeof reply.value !== 'string' || typeof reply.error !== 'number' || !Array.isArray(reply.effects)) {
    throw new Error(`malformed runner reply: ${body.toString('utf8').slice(0, 200)}`);
  }
  const effects = reply.effects.filter(isEffect);
  if (effects.length !== reply.effects.length) throw new Error('malformed effect in runner reply');
  return {
    value: wellFormed(reply.value),
    error: reply.error,
    effects: effects.map((effect) => (effect.op === 'event' ? { ...effect, suffix: wellFormed(effect.suffix) } : effect)),
  };
}

export class PythonInterpreter {
  private child: ChildProcess | undefined;
  private pending: PendingCall | undefined;
  private received: Buffer = Buffer.alloc(0);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: PythonInterpreterOptions = {}) {}

  /**
   * Runs one command; resolves when it (and every call queued before it) has finished. A command
   * whose `caller` is gone by its turn is not run (rejects with {@link PythonCallerGone}); one whose
   * caller goes away while it runs is interrupted (SIGINT: KeyboardInterrupt in the interpreter,
   * which stays usable).
   */
  run(type: number, command: string, caller?: PythonCaller): Promise<PythonOutcome> {
    const call = this.queue.then(() => {
      const gone = caller?.gone();
      if (gone !== undefined) throw new PythonCallerGone(`not run: ${gone} while it waited for the interpreter`);
      const outcome = this.exchange(type, command);
      const child = this.child;
      let running = true;
      void outcome.finally(() => (running = false));
      caller?.onGone(() => {
        // Calls are serialized: while this one has not been answered, the child is running it.
        // process.kill, not child.kill: Deno's ChildProcess.kill() also ends the child's stdin.
        if (running && this.child === child && child?.pid !== undefined) process.kill(child.pid, 'SIGINT');
        running = false;
      });
      return outcome;
    });
    // The queue goes on whatever this call's fate.
    this.queue = call.catch(() => undefined);
    return call;
  }

  /** Stops the interpreter; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    child.kill('SIGTERM');
    await exited;
  }

  private exchange(type: number, command: string): Promise<PythonOutcome> {
    if (this.closed) return Promise.resolve(died('the emulator is stopping'));
    return new Promise<PythonOutcome>((resolve) => {
      this.pending = { resolve };
      const child = this.child ?? this.start();
      const body = Buffer.from(JSON.stringify({ type, command }), 'utf8');
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt32BE(body.length);
      child.stdin?.write(Buffer.concat([header, body]));
    });
  }

  private start(): ChildProcess {
    const executable = this.options.executable ?? 'python3';
    const { scene } = this.options;
    const env = scene ? { ...process.env, ENSIGHT_EMULATOR_SCENE: JSON.stringify({ parts: scene.parts, variables: scene.variables, cei_home: scene.ceiHome }) } : process.env;
    const child = spawn(executable, ['-u', pythonRunnerPath()], {
      stdio: ['pipe', 'pipe', this.options.userOutput ?? 'inherit'],
      env,
    });
    this.child = child;
    this.received = Buffer.alloc(0);
    // A dead child's stdin reports EPIPE; the exit handler below answers the call.
    child.stdin?.on('error', () => {});
    child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    child.on('error', (err) => this.onGone(child, `cannot run ${executable}: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.onGone(child, `${executable} exited (${signal ?? `code ${code}`}) during the call; the next call restarts it`);
    });
    return child;
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length ? Buffer.concat([this.received, chunk]) : chunk;
    while (this.received.length >= HEADER_BYTES) {
      const length = this.received.readUInt32BE(0);
      if (this.received.length < HEADER_BYTES + length) return;
      const body = this.received.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.received = this.received.subarray(HEADER_BYTES + length);
      let outcome: PythonOutcome;
      try {
        outcome = parseReply(body);
      } catch (err) {
        outcome = died(`the interpreter broke its protocol: ${errorText(err)}`);
      }
      this.settle(outcome);
    }
  }

  private onGone(child: ChildProcess, reason: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.settle(died(reason));
  }

  private settle(outcome: PythonOutcome): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(outcome);
  }
}

function died(reason: string): PythonOutcome {
  return { value: reason, error: PYTHON_DIED, effects: [] };
}
