/**
 * Whether a connection is still alive, and what happens when it is not: its connectivity is
 * watched and a heartbeat call checks that the server answers; a lost connection is redialled
 * with backoff, within `maxReconnectAttempts`, only while the failures are retryable.
 */
import * as grpc from '@grpc/grpc-js';
import { clearInterval, setInterval } from 'node:timers';
import { errorText } from '../errors.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import { DynamicSceneGraphServiceDefinition } from '../protocol/mod.ts';
import { trace, traceOn } from '../trace.ts';
import { unaryCall } from './call.ts';
import { shutDown, type Connection } from './connection.ts';
import { DialError, isRetryable } from './errors.ts';
import type { ResolvedDialOptions } from './options.ts';
import type { ConnectionState } from './state.ts';
import { backoffDelay, sleep } from './timing.ts';

/** The heartbeat: cheap, in every EnSight since 2023 R2, and any answer (even UNIMPLEMENTED) counts. */
const HEARTBEAT_METHOD = DynamicSceneGraphServiceDefinition.GetAPIVersion as grpc.MethodDefinition<unknown, unknown>;

/** Any reply proves the server is there; only these say it is not. */
const SERVER_GONE: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

/** Whether the server behind `client` still answers a call within `timeoutMs`. */
export function answers(client: grpc.Client, timeoutMs: number): Promise<boolean> {
  return unaryCall(client, HEARTBEAT_METHOD, {}, {}, { deadline: Date.now() + timeoutMs }).then(
    () => true,
    (err: { code?: number }) => err.code === undefined || !SERVER_GONE.has(err.code),
  );
}

/**
 * Watches one connection until stopped: leaving READY (the socket closed, a GOAWAY, a failed
 * keepalive) or a heartbeat without an answer is reported to `onLost`.
 */
export class ConnectionWatch {
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly connection: Connection,
    private readonly address: string,
    private readonly options: Pick<ResolvedDialOptions, 'heartbeatIntervalMs' | 'timeoutMs'>,
    private readonly onLost: (cause: DialError) => void,
  ) {}

  /** Starts watching; `onLost` may be called at once (the connection is already gone), so keep the watch first. */
  start(): void {
    const { connection, address, options, onLost } = this;
    if (options.heartbeatIntervalMs > 0) {
      let beating = false;
      // A longer interval than a timer can hold would beat every millisecond: ~24.8 days is the rarest.
      const everyMs = Math.min(options.heartbeatIntervalMs, MAX_TIMER_MS);
      this.heartbeat = setInterval(() => {
        if (beating) return;
        beating = true;
        void answers(connection.client, options.timeoutMs).then((alive) => {
          beating = false;
          if (!alive && !this.stopped) onLost(new DialError(`${address} stopped answering`, 'UNAVAILABLE'));
        });
      }, everyMs);
      // Like grpc-js's idle sockets, the heartbeat alone does not keep a process alive.
      this.heartbeat.unref();
    }
    const channel = connection.client.getChannel();
    const check = () => {
      if (this.stopped) return;
      const state = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.SHUTDOWN) return;
      if (state === grpc.connectivityState.READY) channel.watchConnectivityState(state, Infinity, check);
      else onLost(new DialError(`lost the connection to ${address}`, 'UNAVAILABLE'));
    };
    check();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

/** What {@link reconnect} needs of the channel it redials. */
export interface Redial {
  /** The address as given to dial(), for messages. */
  readonly address: string;
  readonly options: ResolvedDialOptions;
  /** Whether the channel was closed meanwhile (by its owner). */
  closed(): boolean;
  /** One connection attempt within `deadline`. */
  connect(deadline: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<Connection>;
  /** Makes `connection` the channel's current one. */
  install(connection: Connection): void;
  emit(state: ConnectionState): void;
  close(reason: string): Promise<void>;
}

function attemptsText(attempts: number): string {
  return `${attempts} attempt${attempts === 1 ? '' : 's'}`;
}

/**
 * Redials after the connection was lost to `cause`: up to `maxReconnectAttempts`, with full
 * jitter backoff, while the failures are retryable. Aborting `stop` closes the channel, as does
 * giving up; the library never ends the process.
 */
export async function reconnect(channel: Redial, stop: AbortSignal, cause: unknown): Promise<void> {
  const { address, options } = channel;
  let lastError = cause;
  let attempts = 0;
  while (attempts < options.maxReconnectAttempts) {
    attempts++;
    const delayMs = backoffDelay(attempts, options.initialDelayMs, options.maxDelayMs);
    channel.emit({ type: 'reconnecting', attempt: attempts, delayMs, cause: lastError });
    if (traceOn.dial) trace('dial', `reconnecting to ${address}: attempt ${attempts} in ${delayMs} ms (${errorText(lastError)})`);
    try {
      await sleep(delayMs, stop);
      const connection = await channel.connect(Date.now() + options.timeoutMs, [stop]);
      if (channel.closed()) {
        shutDown(connection.calls);
        return;
      }
      channel.install(connection);
      if (traceOn.dial) trace('dial', `reconnected to ${address} after ${attemptsText(attempts)}`);
      channel.emit({ type: 'reconnected', attempt: attempts });
      return;
    } catch (err) {
      if (channel.closed()) return;
      if (stop.aborted) {
        if (traceOn.dial) trace('dial', `reconnecting to ${address} was aborted at attempt ${attempts}`);
        await channel.close('reconnecting was aborted');
        return;
      }
      lastError = err;
      const retryable = isRetryable(err);
      if (traceOn.dial) trace('dial', `reconnect attempt ${attempts} to ${address} failed${retryable ? '' : ' (not retryable)'}: ${errorText(err)}`);
      if (!retryable) break;
    }
  }
  if (traceOn.dial) trace('dial', `gave up reconnecting to ${address} after ${attemptsText(attempts)}: ${errorText(lastError)}`);
  channel.emit({ type: 'gave-up', attempts, lastError });
  await channel.close(`gave up reconnecting after ${attemptsText(attempts)}: ${errorText(lastError)}`);
}
