/**
 * {@link DialedChannel}: what {@link dial} returns. It owns the grpc-js client of the current
 * connection and hands it out per call, so that handles built on the channel keep working when a
 * lost connection is replaced, and reports its state as events. Its parts: how a connection is
 * secured (`tls-setup.ts`), the credential on every call (`credentials.ts`), and watching and
 * redialling (`liveness.ts`).
 */
import { setImmediate } from 'node:timers';
import * as grpc from '@grpc/grpc-js';
import { abortable, errorText, toEnSightError } from '../errors.ts';
import { UNLIMITED_MESSAGES } from '../protocol/mod.ts';
import { trace, traceOn } from '../trace.ts';
import type { DialAddress } from './address.ts';
import { callDeadline, grpcCallOptions, methodName, unaryCall, type ChannelCallOptions } from './call.ts';
import { channelReady, shutDown, type ClientCalls, type Connection } from './connection.ts';
import { ChannelAuth } from './credentials.ts';
import { DialError, isRetryable } from './errors.ts';
import { FRAME_SIZE_OUTCOMES, HTTP2_MAX_FRAME_SIZE, raiseOnEveryConnection } from './frame-size.ts';
import { answers, ConnectionWatch, reconnect } from './liveness.ts';
import type { Credentials, ResolvedDialOptions } from './options.ts';
import { ConnectionStateEvent, type ConnectionState, type ConnectionStateType } from './state.ts';
import { backoffDelay, bounded, deadlineExceeded, sleep } from './timing.ts';
import { probeReachable } from './reachability.ts';
import { transportSecurity } from './tls-setup.ts';

interface Waiter {
  resolve(client: grpc.Client): void;
  reject(err: unknown): void;
}

export class DialedChannel extends EventTarget implements AsyncDisposable {
  private connection: Connection | undefined;
  private generations = 0;
  private currentState: ConnectionStateType = 'connecting';
  private readonly auth: ChannelAuth;
  /** Aborted by close(): ends backoffs, dials in progress and waiting calls. */
  private readonly lifetime = new AbortController();
  private watch: ConnectionWatch | undefined;
  private readonly waiting = new Set<Waiter>();

  /** Use {@link dial}. */
  constructor(
    /** The address as given to dial(). */
    readonly address: string,
    private readonly parsed: DialAddress,
    private readonly options: ResolvedDialOptions,
  ) {
    super();
    this.auth = new ChannelAuth(address, parsed.entity, options);
  }

  /** `connecting`, `ready`, `reconnecting` or `closed`. */
  get state(): Exclude<ConnectionStateType, 'reconnected' | 'gave-up'> {
    return this.currentState as Exclude<ConnectionStateType, 'reconnected' | 'gave-up'>;
  }

  /** Whether the current connection uses TLS. */
  get secure(): boolean {
    return this.connection?.secure ?? false;
  }

  /** The grpc-js target dialled: `host:port`, `[v6]:port` or `unix:/path`. */
  get target(): string {
    return this.parsed.target;
  }

  /** Which connection is current: 1 for the first, +1 for each replacement; 0 while there is none. */
  get generation(): number {
    return this.connection?.generation ?? 0;
  }

  /**
   * The grpc-js client of the current connection. It is replaced after a reconnect: fetch it per
   * call (or use {@link unary}, which also waits out a reconnect).
   * @throws DialError `RECONNECTING` or `CHANNEL_CLOSED`.
   */
  get client(): grpc.Client {
    if (this.connection && this.currentState === 'ready') return this.connection.client;
    throw this.unavailableError();
  }

  /** The current client once there is one: at once, or after a reconnect in progress. */
  ready(signal?: AbortSignal): Promise<grpc.Client> {
    if (this.connection && this.currentState === 'ready') return Promise.resolve(this.connection.client);
    if (this.currentState === 'closed') return Promise.reject(this.unavailableError());
    let waiter!: Waiter;
    const waiting = new Promise<grpc.Client>((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiting.add(waiter);
    });
    return abortable(waiting, signal, () => this.waiting.delete(waiter));
  }

  /**
   * A unary call, by its grpc-js method definition. Waits out a reconnect; when the server
   * refuses the bearer token, fetches a new one and tries once more.
   * @throws EnSightRpcError for a failed call, DialError when the channel closed or `timeoutMs` is malformed.
   */
  async unary<Res>(method: grpc.MethodDefinition<unknown, unknown>, request: unknown, options: ChannelCallOptions = {}): Promise<Res> {
    const deadline = callDeadline(options.timeoutMs);
    for (let retried = false; ; retried = true) {
      const waitingForConnection = this.ready(options.signal);
      const client =
        deadline === undefined
          ? await waitingForConnection
          : await bounded(waitingForConnection, { deadline, timeoutMs: options.timeoutMs as number, what: methodName(method), signals: [] });
      const refusals = this.auth.refusals;
      try {
        return await unaryCall<Res>(client, method, request, options, deadline === undefined ? {} : { deadline });
      } catch (err) {
        const refused = (err as { code?: unknown }).code === grpc.status.UNAUTHENTICATED && this.auth.refusals > refusals;
        if (refused && !retried) {
          if (traceOn.dial) trace('dial', `${this.address}: ${methodName(method)} is retried once, with a new bearer token`);
          continue;
        }
        throw toEnSightError(methodName(method), err);
      }
    }
  }

  /** A server-streaming call on the current connection. @throws DialError `RECONNECTING` or `CHANNEL_CLOSED`. */
  serverStream<Res>(method: grpc.MethodDefinition<unknown, unknown>, request: unknown, options: ChannelCallOptions = {}): grpc.ClientReadableStream<Res> {
    return this.client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      options.metadata ?? new grpc.Metadata(),
      grpcCallOptions(options),
    ) as grpc.ClientReadableStream<Res>;
  }

  /** A bidirectional call on the current connection. @throws DialError `RECONNECTING` or `CHANNEL_CLOSED`. */
  bidiStream<Req, Res>(method: grpc.MethodDefinition<unknown, unknown>, options: ChannelCallOptions = {}): grpc.ClientDuplexStream<Req, Res> {
    return this.client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      options.metadata ?? new grpc.Metadata(),
      grpcCallOptions(options),
    ) as grpc.ClientDuplexStream<Req, Res>;
  }

  /**
   * Use another credential from the next call on (a rotated secret, EnSight's
   * `setSecurityToken`). A bearer token of the old credential is dropped.
   */
  setCredentials(credentials: Credentials | undefined): void {
    this.auth.replace(credentials);
  }

  /**
   * A call on connection `generation` failed as if the server were gone. Resolves true once a newer
   * connection is ready (reopen the call there), false when that connection still answers (the
   * failure was the call's own, or reconnecting is off); rejects when the channel closes or gives up.
   */
  async recovered(generation: number): Promise<boolean> {
    const current = this.connection;
    if (current && current.generation > generation && this.currentState === 'ready') return true;
    if (!this.reconnects) return false;
    if (current && current.generation === generation && this.currentState === 'ready') {
      if (await answers(current.client, this.options.timeoutMs)) return false;
      this.lose(current, new DialError(`${this.address} stopped answering`, 'UNAVAILABLE'));
    }
    await this.ready();
    return true;
  }

  /** Close the connection, end reconnecting, fail waiting calls. Idempotent. */
  async close(reason = 'closed by the caller'): Promise<void> {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.lifetime.abort(new DialError(`the channel to ${this.address} is closed: ${reason}`, 'CHANNEL_CLOSED'));
    this.stopWatching();
    const connection = this.connection;
    this.connection = undefined;
    if (connection) shutDown(connection.calls);
    const err = this.unavailableError(reason);
    for (const waiter of this.waiting) waiter.reject(err);
    this.waiting.clear();
    this.emit({ type: 'closed', reason });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- dialling ---------------------------------------------------------------------------------

  /** The first connection: up to `initialConnectionAttempts` within the one deadline. Used by dial(). */
  async open(): Promise<void> {
    const { options } = this;
    const deadline = Date.now() + options.timeoutMs;
    this.emit({ type: 'connecting' });
    let lastError: unknown;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          this.install(await this.connectOnce(deadline, [options.signal, this.lifetime.signal]));
          this.emit({ type: 'ready' });
          return;
        } catch (err) {
          // A deadline that strikes inside an attempt would hide why the earlier ones failed: name that.
          if (lastError !== undefined && err instanceof DialError && err.code === 'DEADLINE_EXCEEDED') {
            throw deadlineExceeded(`dialling ${this.address}`, options.timeoutMs, lastError);
          }
          lastError = err;
          const again = isRetryable(err) && attempt < options.initialConnectionAttempts;
          if (traceOn.dial) trace('dial', `dial attempt ${attempt} to ${this.address} failed${again ? '' : ', the last'}: ${errorText(err)}`);
          if (!again) throw err;
        }
        const remaining = deadline - Date.now();
        if (remaining > 0) await sleep(Math.min(remaining, backoffDelay(attempt, options.initialDelayMs, options.maxDelayMs)), options.signal);
        if (Date.now() >= deadline) throw deadlineExceeded(`dialling ${this.address}`, options.timeoutMs, lastError);
      }
    } catch (err) {
      await this.close(`dial failed: ${errorText(err)}`);
      throw err;
    }
  }

  private get reconnects(): boolean {
    return this.options.maxReconnectAttempts > 0;
  }

  /** One connection: transport security (a TLS probe for TCP), channel readiness, credential exchange. */
  private async connectOnce(deadline: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<Connection> {
    const { parsed, options, address } = this;
    const limits = { deadline, timeoutMs: options.timeoutMs, signals };
    const security = await transportSecurity({ address, parsed, options, credentials: this.auth.credentials }, limits);
    // A refusal is learned without grpc-js, which would leak a failed attempt's connection (reachability.ts).
    if (!security.probed) await probeReachable(parsed, address, limits);
    const calls: ClientCalls = { open: new Set() };
    const client = new grpc.Client(parsed.target, security.credentials, {
      // Unlimited unless the caller bounds what it receives (the client's maxReplyBytes).
      ...UNLIMITED_MESSAGES,
      ...options.channelOptions,
      ...security.channelOptions,
      interceptors: [this.auth.interceptor(calls)],
    });
    calls.client = client;
    try {
      const what = `connecting to ${address}`;
      await bounded(channelReady(client, deadline, what, options.timeoutMs), { ...limits, what });
      raiseOnEveryConnection(client, (frames) => {
        if (traceOn.dial) trace('dial', `HTTP/2 DATA frames of up to ${HTTP2_MAX_FRAME_SIZE} bytes from ${address}: ${FRAME_SIZE_OUTCOMES[frames]}`);
      });
      await this.auth.exchangeOn(client, this.generations + 1, limits);
      return { client, calls, secure: security.secure, generation: ++this.generations };
    } catch (err) {
      shutDown(calls);
      throw err;
    }
  }

  // ---- watching and reconnecting ------------------------------------------------------------------

  private install(connection: Connection): void {
    this.connection = connection;
    this.currentState = 'ready';
    for (const waiter of this.waiting) waiter.resolve(connection.client);
    this.waiting.clear();
    if (!this.reconnects) return;
    this.watch = new ConnectionWatch(connection, this.address, this.options, (cause) => this.lose(connection, cause));
    this.watch.start();
  }

  private stopWatching(): void {
    this.watch?.stop();
    this.watch = undefined;
  }

  private lose(connection: Connection, cause: DialError): void {
    if (this.connection !== connection || this.currentState !== 'ready' || !this.reconnects) return;
    if (traceOn.dial) trace('dial', `connection ${connection.generation} to ${this.address} lost: ${cause.message}`);
    // What callers see changes now: no connection, reconnecting (streams failing at this moment
    // take it as a lost connection, not an end). What acts on it waits a macrotask: the loss is
    // noticed from inside grpc-js's own teardown of the HTTP/2 session (a connectivity watcher),
    // and closing that client or cancelling its calls from there (directly, or through an abort a
    // 'reconnecting' listener raises) re-enters the session being destroyed, which crashes Deno's
    // HTTP/2 (SIGSEGV, about one run in four of test/dial/reconnect.test.ts before this).
    this.connection = undefined;
    this.currentState = 'reconnecting';
    setImmediate(() => {
      this.stopWatching();
      shutDown(connection.calls);
      if (this.currentState !== 'reconnecting') return; // closed in the meantime
      const { reconnectAbortSignal } = this.options;
      const stop = reconnectAbortSignal ? AbortSignal.any([this.lifetime.signal, reconnectAbortSignal]) : this.lifetime.signal;
      void reconnect(
        {
          address: this.address,
          options: this.options,
          closed: () => this.currentState === 'closed',
          connect: (deadline, signals) => this.connectOnce(deadline, signals),
          install: (next) => this.install(next),
          emit: (state) => this.emit(state),
          close: (reason) => this.close(reason),
        },
        stop,
        cause,
      );
    });
  }

  private unavailableError(reason?: string): DialError {
    if (this.currentState === 'closed') {
      const why = (this.lifetime.signal.reason as Error | undefined)?.message ?? `the channel to ${this.address} is closed`;
      return new DialError(reason ? `the channel to ${this.address} is closed: ${reason}` : why, 'CHANNEL_CLOSED');
    }
    return new DialError(`the connection to ${this.address} is being re-established`, 'RECONNECTING');
  }

  private emit(state: ConnectionState): void {
    this.options.onConnectionState?.(state);
    this.dispatchEvent(new ConnectionStateEvent(state));
  }
}
