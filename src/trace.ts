/**
 * Opt-in tracing, in the style of grpc-js's GRPC_TRACE: `ENSIGHT_GRPC_TRACE=dial,shmem,client`
 * (a comma list; `all` for everything) writes one line per event to stderr:
 *
 * ```
 * 2026-11-30T01:50:33.123Z | ensight-grpc 4242 | dial | TLS probe of 127.0.0.1:50051: plaintext
 * ```
 *
 * The variable is read once, at load. Off (the default), a call site costs one property read of
 * {@link traceOn}: guard the call so that the message is not even built.
 *
 * ```ts
 * if (traceOn.dial) trace('dial', `reconnecting to ${address}`);
 * ```
 */
import process from 'node:process';

export const TRACE_COMPONENTS = ['dial', 'shmem', 'client'] as const;
export type TraceComponent = (typeof TRACE_COMPONENTS)[number];

function enabledComponents(): ReadonlySet<string> {
  let value: string | undefined;
  try {
    value = process.env.ENSIGHT_GRPC_TRACE;
  } catch {
    // Deno without --allow-env: tracing stays off rather than failing the import.
    return new Set();
  }
  const names = (value ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
  return new Set(names.includes('all') ? TRACE_COMPONENTS : names);
}

const enabled = enabledComponents();

/** Which components trace, fixed at load. */
export const traceOn: Readonly<Record<TraceComponent, boolean>> = Object.freeze(
  Object.fromEntries(TRACE_COMPONENTS.map((c) => [c, enabled.has(c)])) as Record<TraceComponent, boolean>,
);

/** One trace line for `component`, if it traces. */
export function trace(component: TraceComponent, message: string): void {
  if (!traceOn[component]) return;
  process.stderr.write(`${new Date().toISOString()} | ensight-grpc ${process.pid} | ${component} | ${message}\n`);
}
