/** One unary call on a grpc-js client, cancelled by an AbortSignal, bounded by a per-call timeout. */
import * as grpc from '@grpc/grpc-js';
import { abortable, abortReason } from '../errors.ts';
import { DialError } from './errors.ts';

export interface ChannelCallOptions {
  /** Cancels the call; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Per-call deadline in milliseconds, a positive number; one over {@link MAX_DEADLINE_MS}
   * (`Infinity` included) is none.
   */
  timeoutMs?: number;
  /** Sent with the call; the channel adds its credential and dial metadata to what is not set here. */
  metadata?: grpc.Metadata;
}

/**
 * The longest deadline a call sends; a longer one (~24.8 days and more) is sent as none. A grpc-js
 * server, the emulator's included, reads `grpc-timeout` into a signed 32-bit count of milliseconds,
 * and a timeout this long travels in whole seconds: 2 147 483 s is the most that does not wrap
 * round to a deadline already past (a 2^31 ms timeout failed at once with DEADLINE_EXCEEDED).
 * Beyond ~1e8 hours grpc-js's client cannot even write the header: it throws where nothing can
 * catch it, and the process dies.
 */
export const MAX_DEADLINE_MS = 2_147_483_000;

/**
 * Throws `fail(message)` unless `timeoutMs` is undefined or a positive number of milliseconds
 * (`Infinity`: no deadline). NaN, a string, 0 and negative numbers are refused: grpc-js would
 * throw on some where nothing catches it, and make others an instant DEADLINE_EXCEEDED.
 */
export function checkTimeoutMs(name: string, timeoutMs: unknown, fail: (message: string) => Error): asserts timeoutMs is number | undefined {
  if (timeoutMs === undefined || (typeof timeoutMs === 'number' && timeoutMs > 0)) return;
  const given = typeof timeoutMs === 'string' ? `"${timeoutMs}"` : String(timeoutMs);
  throw fail(`${name} must be a positive number of milliseconds, got ${given}`);
}

/**
 * When a call with `timeoutMs` has to end (a `Date.now()` time), or undefined when it has no
 * deadline: none given, or one over {@link MAX_DEADLINE_MS}.
 * @throws DialError `INVALID_ARGUMENT` when `timeoutMs` is malformed (see {@link checkTimeoutMs}).
 */
export function callDeadline(timeoutMs: unknown): number | undefined {
  checkTimeoutMs('timeoutMs', timeoutMs, (message) => new DialError(message, 'INVALID_ARGUMENT'));
  return timeoutMs === undefined || timeoutMs > MAX_DEADLINE_MS ? undefined : Date.now() + timeoutMs;
}

/** @throws DialError `INVALID_ARGUMENT` for a malformed `timeoutMs` (see {@link callDeadline}). */
export function grpcCallOptions(o: ChannelCallOptions): grpc.CallOptions {
  const deadline = callDeadline(o.timeoutMs);
  return deadline === undefined ? {} : { deadline };
}

/** `callOptions` without a deadline further away than {@link MAX_DEADLINE_MS} (see there for why). */
function withSendableDeadline(callOptions: grpc.CallOptions): grpc.CallOptions {
  const { deadline } = callOptions;
  if (deadline === undefined) return callOptions;
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (at - Date.now() <= MAX_DEADLINE_MS) return callOptions;
  const { deadline: _far, ...rest } = callOptions;
  return rest;
}

/** The method's name, for messages: `/pkg.Service/Method` → `Method`. */
export function methodName(method: grpc.MethodDefinition<unknown, unknown>): string {
  return method.originalName ?? method.path.slice(method.path.lastIndexOf('/') + 1);
}

/** Rejects with what grpc-js reported (a ServiceError) or the abort reason. */
export function unaryCall<Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<unknown, unknown>,
  request: unknown,
  o: ChannelCallOptions,
  givenCallOptions?: grpc.CallOptions,
): Promise<Res> {
  const { signal } = o;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  let callOptions: grpc.CallOptions;
  try {
    // A deadline made by the caller (a dial's credential exchange, a heartbeat) comes from a
    // user's timeoutMs too: the same limit applies to it.
    callOptions = withSendableDeadline(givenCallOptions ?? grpcCallOptions(o));
  } catch (err) {
    return Promise.reject(err);
  }
  let call: grpc.ClientUnaryCall | undefined;
  const reply = new Promise<Res>((resolve, reject) => {
    call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      o.metadata ?? new grpc.Metadata(),
      callOptions,
      (err, value) => (err ? reject(err) : resolve(value as Res)),
    );
  });
  return abortable(reply, signal, () => call?.cancel());
}
