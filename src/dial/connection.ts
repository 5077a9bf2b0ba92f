/**
 * One connection of a {@link DialedChannel}: a grpc-js client and the calls in flight on it, how
 * it becomes ready, how it is shut down, and how a call cut by its loss is reported.
 */
import * as grpc from '@grpc/grpc-js';
import { DialError } from './errors.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import { deadlineExceeded } from './timing.ts';

/** A grpc-js client and the calls in flight on it. */
export interface ClientCalls {
  client?: grpc.Client;
  readonly open: Set<grpc.InterceptingCall>;
}

export interface Connection {
  readonly client: grpc.Client;
  readonly calls: ClientCalls;
  /** TLS (false: plaintext TCP or a Unix socket). */
  readonly secure: boolean;
  /** 1 for the first connection, +1 for each replacement. */
  readonly generation: number;
}

/** Ends the calls still in flight (grpc-js's close() lets them run on) and closes the client. */
export function shutDown(calls: ClientCalls): void {
  for (const call of calls.open) call.cancelWithStatus(grpc.status.CANCELLED, 'the channel was closed');
  calls.open.clear();
  calls.client?.close();
}

/** What the socket says when the peer vanished under a call (EPIPE on write, reset on read). */
const SOCKET_GONE = /\b(EPIPE|ECONNRESET|ECONNREFUSED|ENOTCONN)\b/;

/**
 * A call cut by the connection dying is UNAVAILABLE in gRPC's terms, whichever way grpc-js
 * noticed: when its own write hits the dead socket first it reports INTERNAL ("Received
 * RST_STREAM … write EPIPE"), which depends on timing (seen under Deno).
 */
export function asConnectionLoss(status: grpc.StatusObject): grpc.StatusObject {
  return status.code === grpc.status.INTERNAL && SOCKET_GONE.test(status.details)
    ? { ...status, code: grpc.status.UNAVAILABLE }
    : status;
}

/**
 * READY, or a typed failure: grpc-js's own waitForReady sits out refused connections until the
 * deadline, where a refusal should be an UNAVAILABLE that the caller's backoff decides about.
 */
export function channelReady(client: grpc.Client, deadline: number, what: string, timeoutMs: number): Promise<void> {
  const channel = client.getChannel();
  const { READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;
  return new Promise((resolve, reject) => {
    const check = (err?: Error) => {
      if (err) return reject(deadlineExceeded(what, timeoutMs));
      const state = channel.getConnectivityState(true);
      if (state === READY) return resolve();
      if (state === TRANSIENT_FAILURE) return reject(new DialError(`${what}: the connection was refused or dropped`, 'UNAVAILABLE'));
      if (state === SHUTDOWN) return reject(new DialError(`${what}: the channel was closed`, 'CHANNEL_CLOSED'));
      // grpc-js times the wait with one setTimeout, which fires at once when the deadline is
      // further than a timer can reach; the caller's bounded() keeps such a deadline instead.
      channel.watchConnectivityState(state, deadline - Date.now() > MAX_TIMER_MS ? Infinity : deadline, check);
    };
    check();
  });
}
