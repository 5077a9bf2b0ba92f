/**
 * {@link DialedChannel}: what {@link dial} returns. It owns the grpc-js client of the current
 * connection and hands it out per call, so that handles built on the channel keep working when a
 * lost connection is replaced; it adds the credential to every call, watches the connection and
 * redials with backoff, and reports its state as events.
 */
import * as grpc from '@grpc/grpc-js';
import { clearInterval, setInterval } from 'node:timers';
import { EnSightError, EnSightRpcError, abortReason, toEnSightError } from '../errors.ts';
import { trace, traceOn } from '../trace.ts';
import {
  AUTHENTICATE_PATH,
  AuthServiceDefinition,
  DynamicSceneGraphServiceDefinition,
  UNLIMITED_MESSAGES,
  type AuthenticateResponse,
} from '../protocol/mod.ts';
import type { DialAddress } from './address.ts';
import { BearerToken } from './auth.ts';
import { grpcCallOptions, methodName, unaryCall, type ChannelCallOptions } from './call.ts';
import { DialError, isRetryable } from './errors.ts';
import { isExchanged, type Credentials, type ResolvedDialOptions } from './options.ts';
import { probeTls } from './probe.ts';
import { ConnectionStateEvent, type ConnectionState, type ConnectionStateType } from './state.ts';
import { backoffDelay, bounded, deadlineExceeded, sleep } from './timing.ts';
import { tlsBuffers, tlsChannel } from './tls.ts';

/** A grpc-js client and the calls in flight on it. */
interface ClientCalls {
  client?: grpc.Client;
  readonly open: Set<grpc.InterceptingCall>;
}

interface Connection {
  readonly client: grpc.Client;
  readonly calls: ClientCalls;
  /** TLS (false: plaintext TCP or a Unix socket). */
  readonly secure: boolean;
  /** 1 for the first connection, +1 for each replacement. */
  readonly generation: number;
}

interface Waiter {
  resolve(client: grpc.Client): void;
  reject(err: unknown): void;
}

/** Any reply proves the server is there; only these say it is not. */
const SERVER_GONE: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

/** What the socket says when the peer vanished under a call (EPIPE on write, reset on read). */
const SOCKET_GONE = /\b(EPIPE|ECONNRESET|ECONNREFUSED|ENOTCONN)\b/;

/**
 * A call cut by the connection dying is UNAVAILABLE in gRPC's terms, whichever way grpc-js
 * noticed: when its own write hits the dead socket first it reports INTERNAL ("Received
 * RST_STREAM … write EPIPE"), which depends on timing (seen under Deno).
 */
function asConnectionLoss(status: grpc.StatusObject): grpc.StatusObject {
  return status.code === grpc.status.INTERNAL && SOCKET_GONE.test(status.details)
    ? { ...status, code: grpc.status.UNAVAILABLE }
    : status;
}

/** The heartbeat: cheap, in every EnSight since 2023 R2, and any answer (even UNIMPLEMENTED) counts. */
const HEARTBEAT_METHOD = DynamicSceneGraphServiceDefinition.GetAPIVersion as grpc.MethodDefinition<unknown, unknown>;
const AUTHENTICATE_METHOD = AuthServiceDefinition.Authenticate as grpc.MethodDefinition<unknown, unknown>;

/** Ends the calls still in flight (grpc-js's close() lets them run on) and closes the client. */
function shutDown(calls: ClientCalls): void {
  for (const call of calls.open) call.cancelWithStatus(grpc.status.CANCELLED, 'the channel was closed');
  calls.open.clear();
  calls.client?.close();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The status a call reports when fetching its token failed: the exchange's own, or the dial error's. */
function failureStatus(err: unknown): grpc.status {
  if (err instanceof EnSightRpcError) return err.status;
  if (err instanceof EnSightError && err.code in grpc.status) return grpc.status[err.code as keyof typeof grpc.status];
  return grpc.status.UNAUTHENTICATED;
}

/**
 * READY, or a typed failure: grpc-js's own waitForReady sits out refused connections until the
 * deadline, where a refusal should be an UNAVAILABLE that the caller's backoff decides about.
 */
function channelReady(client: grpc.Client, deadline: number, what: string, timeoutMs: number): Promise<void> {
  const channel = client.getChannel();
  const { READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;
  return new Promise((resolve, reject) => {
    const check = (err?: Error) => {
      if (err) return reject(deadlineExceeded(what, timeoutMs));
      const state = channel.getConnectivityState(true);
      if (state === READY) return resolve();
      if (state === TRANSIENT_FAILURE) return reject(new DialError(`${what}: the connection was refused or dropped`, 'UNAVAILABLE'));
      if (state === SHUTDOWN) return reject(new DialError(`${what}: the channel was closed`, 'CHANNEL_CLOSED'));
      channel.watchConnectivityState(state, deadline, check);
    };
    check();
  });
}

export class DialedChannel extends EventTarget implements AsyncDisposable {
  private connection: Connection | undefined;
  private generations = 0;
  private currentState: ConnectionStateType = 'connecting';
  private credentials: Readonly<Credentials> | undefined;
  private readonly token = new BearerToken();
  /** Aborted by close(): ends backoffs, dials in progress and waiting calls. */
  private readonly lifetime = new AbortController();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly waiting = new Set<Waiter>();

  /** Use {@link dial}. */
  constructor(
    /** The address as given to dial(). */
    readonly address: string,
    private readonly parsed: DialAddress,
    private readonly options: ResolvedDialOptions,
  ) {
    super();
    this.credentials = options.credentials;
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
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(waiter);
        reject(abortReason(signal as AbortSignal));
      };
      const waiter: Waiter = {
        resolve: (client) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(client);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.waiting.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A unary call, by its grpc-js method definition. Waits out a reconnect; when the server
   * refuses the bearer token, fetches a new one and tries once more.
   * @throws EnSightRpcError for a failed call, DialError when the channel closed.
   */
  async unary<Res>(method: grpc.MethodDefinition<unknown, unknown>, request: unknown, options: ChannelCallOptions = {}): Promise<Res> {
    const deadline = options.timeoutMs !== undefined ? Date.now() + options.timeoutMs : undefined;
    for (let retried = false; ; retried = true) {
      const waitingForConnection = this.ready(options.signal);
      const client =
        deadline === undefined
          ? await waitingForConnection
          : await bounded(waitingForConnection, { deadline, timeoutMs: options.timeoutMs as number, what: methodName(method), signals: [] });
      const refusals = this.token.refusals;
      try {
        return await unaryCall<Res>(client, method, request, options, deadline === undefined ? {} : { deadline });
      } catch (err) {
        const refused = (err as { code?: unknown }).code === grpc.status.UNAUTHENTICATED && this.token.refusals > refusals;
        if (refused && !retried) continue;
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
    this.credentials = credentials && Object.freeze({ type: credentials.type, payload: credentials.payload });
    this.token.forget();
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
      if (await this.answers(current)) return false;
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
    this.stopHeartbeat();
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
          lastError = err;
          if (!isRetryable(err) || attempt >= options.initialConnectionAttempts) throw err;
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

  /** One connection: TLS probe (TCP without `insecure`), channel readiness, credential exchange. */
  private async connectOnce(deadline: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<Connection> {
    const { parsed, options } = this;
    const limits = { deadline, timeoutMs: options.timeoutMs, signals };
    let credentials = grpc.credentials.createInsecure();
    let tlsOptions: grpc.ChannelOptions = {};
    let secure = false;
    if (parsed.kind === 'tcp' && !options.insecure && !parsed.plaintextScheme) {
      const material = tlsBuffers(options.tls);
      const serverName = this.tlsServerName(parsed.host);
      const verdict = await probeTls({ host: parsed.host, port: parsed.port, address: this.address, serverName, ...material }, limits);
      if (traceOn.dial) trace('dial', `TLS probe of ${this.address}: ${verdict}`);
      if (verdict === 'tls') {
        ({ credentials, channelOptions: tlsOptions } = tlsChannel(parsed.host, material, serverName));
        secure = true;
      } else {
        this.checkDowngrade();
      }
    }
    const calls: ClientCalls = { open: new Set() };
    const client = new grpc.Client(parsed.target, credentials, {
      // Unlimited unless the caller bounds what it receives (the client's maxReplyBytes).
      ...UNLIMITED_MESSAGES,
      ...options.channelOptions,
      ...tlsOptions,
      interceptors: [this.interceptor(calls)],
    });
    calls.client = client;
    try {
      const what = `connecting to ${this.address}`;
      await bounded(channelReady(client, deadline, what, options.timeoutMs), { ...limits, what });
      if (isExchanged(this.credentials)) {
        // A new connection may lead to a new server (restarted, failed over): its own token.
        this.token.set(await bounded(this.authenticate(client, deadline), { ...limits, what: `authenticating with ${this.address}` }));
        if (traceOn.dial) trace('dial', `${this.address}: bearer token fetched (connection ${this.generations + 1})`);
      }
      return { client, calls, secure, generation: ++this.generations };
    } catch (err) {
      shutDown(calls);
      throw err;
    }
  }

  /** Viam's rule: a robot secret's entity names the server when it differs from the host. */
  private tlsServerName(host: string): string | undefined {
    const { tls, authEntity } = this.options;
    if (tls?.serverName) return tls.serverName;
    const robot = this.credentials?.type === 'robot-secret' || this.credentials?.type === 'robot-location-secret';
    return robot && authEntity && authEntity !== host ? authEntity : undefined;
  }

  private checkDowngrade(): void {
    const withCredentials = this.credentials !== undefined;
    const allowed = withCredentials ? this.options.allowInsecureWithCredsDowngrade : this.options.allowInsecureDowngrade;
    if (traceOn.dial) {
      trace('dial', `${this.address} is plaintext: downgrade ${allowed ? 'allowed' : 'refused'}${withCredentials ? ' (with credentials)' : ''}`);
    }
    if (allowed) return;
    throw new DialError(
      `Requested address ${this.address} is insecure${withCredentials ? ' and will not send credentials' : ''}`,
      'INSECURE_ADDRESS',
    );
  }

  private authenticate(client: grpc.Client, deadline: number): Promise<string> {
    const credentials = this.credentials as Credentials;
    const request = { entity: this.options.authEntity ?? this.parsed.entity, credentials: { type: credentials.type, payload: credentials.payload } };
    return unaryCall<AuthenticateResponse>(client, AUTHENTICATE_METHOD, request, {}, { deadline }).then(
      (reply) => reply.accessToken,
      (err: unknown) => {
        throw toEnSightError('Authenticate', err);
      },
    );
  }

  /**
   * Adds the dial metadata and the credential to every call on `calls.client`, leaving headers
   * the call set itself alone; the Authenticate call carries no bearer token. A refused token is
   * dropped so that the next call fetches another.
   *
   * grpc-js hands the interceptor the very `Metadata` object the caller passed: the headers are
   * added to a copy, so that nothing of this channel (its secret, its bearer token) stays in an
   * object the caller may reuse on another channel or for a later call.
   */
  private interceptor(calls: ClientCalls): grpc.Interceptor {
    return (callOptions, nextCall) => {
      const call: grpc.InterceptingCall = new grpc.InterceptingCall(nextCall(callOptions), {
        start: (callerMetadata, listener, next) => {
          calls.open.add(call);
          const metadata = callerMetadata.clone();
          const setDefault = (key: string, value: string) => {
            if (metadata.get(key).length === 0) metadata.set(key, value);
          };
          /** `bearer`: the token this channel added, whose refusal means fetching another. */
          const startWith = (bearer: string | undefined) =>
            next(metadata, {
              onReceiveStatus: (status, passOn) => {
                calls.open.delete(call);
                if (bearer !== undefined && status.code === grpc.status.UNAUTHENTICATED) {
                  if (traceOn.dial) trace('dial', `${this.address} refused the bearer token on ${callOptions.method_definition.path}: the next call fetches another`);
                  this.token.refused(bearer);
                }
                passOn(asConnectionLoss(status));
              },
            });
          for (const [key, value] of Object.entries(this.options.metadata)) setDefault(key, value);
          const credentials = this.credentials;
          if (credentials?.type === 'ensight-security-token') setDefault('shared_secret', credentials.payload);
          // A call that brings its own authorization is the caller's business: no token fetched, none refused.
          const ownAuthorization = metadata.get('authorization').length > 0;
          if (!isExchanged(credentials) || ownAuthorization || callOptions.method_definition.path === AUTHENTICATE_PATH) {
            startWith(undefined);
            return;
          }
          this.token.get(() => {
            if (traceOn.dial) trace('dial', `${this.address}: fetching a bearer token for ${callOptions.method_definition.path}`);
            return this.authenticate(calls.client as grpc.Client, Date.now() + this.options.timeoutMs);
          }).then(
            (token) => {
              metadata.set('authorization', `Bearer ${token}`);
              startWith(token);
            },
            (err: unknown) => {
              // The call never started: end it below us (its deadline timer) and report why.
              calls.open.delete(call);
              const status = failureStatus(err);
              call.cancelWithStatus(status, errorText(err));
              listener.onReceiveStatus({ code: status, details: errorText(err), metadata: new grpc.Metadata() });
            },
          );
        },
      });
      return call;
    };
  }

  // ---- watching and reconnecting ------------------------------------------------------------------

  private install(connection: Connection): void {
    this.connection = connection;
    this.currentState = 'ready';
    for (const waiter of this.waiting) waiter.resolve(connection.client);
    this.waiting.clear();
    if (!this.reconnects) return;
    this.watch(connection);
    if (this.options.heartbeatIntervalMs > 0) {
      let beating = false;
      this.heartbeat = setInterval(() => {
        if (beating) return;
        beating = true;
        void this.answers(connection).then((alive) => {
          beating = false;
          if (!alive) this.lose(connection, new DialError(`${this.address} stopped answering`, 'UNAVAILABLE'));
        });
      }, this.options.heartbeatIntervalMs);
      // Like grpc-js's idle sockets, the heartbeat alone does not keep a process alive.
      this.heartbeat.unref();
    }
  }

  /** Leaving READY (the socket closed, a GOAWAY, a failed keepalive) is a lost connection. */
  private watch(connection: Connection): void {
    const channel = connection.client.getChannel();
    const check = () => {
      if (this.connection !== connection) return;
      const state = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.SHUTDOWN) return;
      if (state === grpc.connectivityState.READY) channel.watchConnectivityState(state, Infinity, check);
      else this.lose(connection, new DialError(`lost the connection to ${this.address}`, 'UNAVAILABLE'));
    };
    check();
  }

  /** Whether the server behind `connection` still answers a call. */
  private answers(connection: Connection): Promise<boolean> {
    return unaryCall(connection.client, HEARTBEAT_METHOD, {}, {}, { deadline: Date.now() + this.options.timeoutMs }).then(
      () => true,
      (err: { code?: number }) => err.code === undefined || !SERVER_GONE.has(err.code),
    );
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private lose(connection: Connection, cause: DialError): void {
    if (this.connection !== connection || this.currentState !== 'ready' || !this.reconnects) return;
    this.connection = undefined;
    this.stopHeartbeat();
    shutDown(connection.calls);
    this.currentState = 'reconnecting';
    void this.reconnect(cause);
  }

  private async reconnect(cause: unknown): Promise<void> {
    const { options } = this;
    const stop = options.reconnectAbortSignal ? AbortSignal.any([this.lifetime.signal, options.reconnectAbortSignal]) : this.lifetime.signal;
    let lastError = cause;
    let attempts = 0;
    while (attempts < options.maxReconnectAttempts) {
      attempts++;
      const delayMs = backoffDelay(attempts, options.initialDelayMs, options.maxDelayMs);
      this.emit({ type: 'reconnecting', attempt: attempts, delayMs, cause: lastError });
      if (traceOn.dial) trace('dial', `reconnecting to ${this.address}: attempt ${attempts} in ${delayMs} ms (${errorText(lastError)})`);
      try {
        await sleep(delayMs, stop);
        const connection = await this.connectOnce(Date.now() + options.timeoutMs, [stop]);
        if (this.currentState === 'closed') {
          shutDown(connection.calls);
          return;
        }
        this.install(connection);
        if (traceOn.dial) trace('dial', `reconnected to ${this.address} after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
        this.emit({ type: 'reconnected', attempt: attempts });
        return;
      } catch (err) {
        if (this.currentState === 'closed') return;
        if (stop.aborted) {
          await this.close('reconnecting was aborted');
          return;
        }
        lastError = err;
        if (!isRetryable(err)) break;
      }
    }
    if (traceOn.dial) trace('dial', `gave up reconnecting to ${this.address} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${errorText(lastError)}`);
    this.emit({ type: 'gave-up', attempts, lastError });
    await this.close(`gave up reconnecting after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${errorText(lastError)}`);
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
