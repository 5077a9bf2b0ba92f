/**
 * The credential on every call of a channel: EnSight's secret as `shared_secret`; an API key or
 * robot secret exchanged (`/proto.rpc.v1.AuthService/Authenticate`, on the wire in
 * `protocol/auth.ts`) for a bearer token that every other call carries, fetched once, shared by
 * concurrent calls, dropped and fetched again when the server refuses it; the dial's metadata.
 */
import * as grpc from '@grpc/grpc-js';
import { EnSightError, EnSightRpcError, errorText, toEnSightError } from '../errors.ts';
import { AUTHENTICATE_PATH, AuthServiceDefinition, type AuthenticateResponse } from '../protocol/mod.ts';
import { trace, traceOn } from '../trace.ts';
import { unaryCall } from './call.ts';
import { asConnectionLoss, type ClientCalls } from './connection.ts';
import { isExchanged, type Credentials, type ResolvedDialOptions } from './options.ts';
import { bounded } from './timing.ts';

const AUTHENTICATE_METHOD = AuthServiceDefinition.Authenticate as grpc.MethodDefinition<unknown, unknown>;

/** The access token of one credential: shared by concurrent calls, dropped when the server refuses it. */
class BearerToken {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  /** How many times the server refused a token handed out here. */
  refusals = 0;

  /** The cached token, or the one `fetch` brings (one fetch at a time). */
  get(fetch: () => Promise<string>): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    if (!this.pending) {
      const pending = fetch().then((token) => {
        if (this.pending === pending) this.token = token;
        return token;
      });
      const settle = () => {
        if (this.pending === pending) this.pending = undefined;
      };
      pending.then(settle, settle);
      this.pending = pending;
    }
    return this.pending;
  }

  set(token: string): void {
    this.pending = undefined;
    this.token = token;
  }

  /** The server refused `token`: the next call fetches another. */
  refused(token: string): void {
    this.refusals++;
    if (this.token === token) this.token = undefined;
  }

  forget(): void {
    this.token = undefined;
    this.pending = undefined;
  }
}

/** The status a call reports when fetching its token failed: the exchange's own, or the dial error's. */
function failureStatus(err: unknown): grpc.status {
  if (err instanceof EnSightRpcError) return err.status;
  if (err instanceof EnSightError && err.code in grpc.status) return grpc.status[err.code as keyof typeof grpc.status];
  return grpc.status.UNAUTHENTICATED;
}

/** A channel's credential (replaceable), its bearer token, and the interceptor that puts both on calls. */
export class ChannelAuth {
  private current: Readonly<Credentials> | undefined;
  private readonly token = new BearerToken();

  constructor(
    /** The address as given to dial(), for messages. */
    private readonly address: string,
    /** Whom the credential belongs to when no `authEntity` is given: the address without its scheme. */
    private readonly entity: string,
    private readonly options: ResolvedDialOptions,
  ) {
    this.current = options.credentials;
  }

  get credentials(): Readonly<Credentials> | undefined {
    return this.current;
  }

  /** How many bearer tokens the server has refused: a call that sees this grow may retry once, with a new token. */
  get refusals(): number {
    return this.token.refusals;
  }

  /** Another credential from the next call on; a bearer token of the old one is dropped. */
  replace(credentials: Credentials | undefined): void {
    this.current = credentials && Object.freeze({ type: credentials.type, payload: credentials.payload });
    this.token.forget();
    if (traceOn.dial) trace('dial', `${this.address}: credentials replaced (${credentials?.type ?? 'none'}); any bearer token is dropped`);
  }

  /**
   * A token for a new connection, fetched at once: a new connection may lead to a new server
   * (restarted, failed over), which knows nothing of the old one's. Nothing to do for a
   * credential sent as it is.
   */
  async exchangeOn(
    client: grpc.Client,
    generation: number,
    limits: { deadline: number; timeoutMs: number; signals: ReadonlyArray<AbortSignal | undefined> },
  ): Promise<void> {
    if (!isExchanged(this.current)) return;
    this.token.set(await bounded(this.authenticate(client, limits.deadline), { ...limits, what: `authenticating with ${this.address}` }));
    if (traceOn.dial) trace('dial', `${this.address}: bearer token fetched (connection ${generation})`);
  }

  private authenticate(client: grpc.Client, deadline: number): Promise<string> {
    const credentials = this.current as Credentials;
    const request = { entity: this.options.authEntity ?? this.entity, credentials: { type: credentials.type, payload: credentials.payload } };
    return unaryCall<AuthenticateResponse>(client, AUTHENTICATE_METHOD, request, {}, { deadline }).then(
      (reply) => reply.accessToken,
      (err: unknown) => {
        const failure = toEnSightError('Authenticate', err);
        if (traceOn.dial) trace('dial', `${this.address}: the credential exchange (${credentials.type}) failed: ${errorText(failure)}`);
        throw failure;
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
  interceptor(calls: ClientCalls): grpc.Interceptor {
    return (callOptions, nextCall) => {
      const call: grpc.InterceptingCall = new grpc.InterceptingCall(nextCall(callOptions), {
        start: (callerMetadata, listener, next) => {
          calls.open.add(call);
          const path = callOptions.method_definition.path;
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
                  if (traceOn.dial) trace('dial', `${this.address} refused the bearer token on ${path}: the next call fetches another`);
                  this.token.refused(bearer);
                }
                passOn(asConnectionLoss(status));
              },
            });
          for (const [key, value] of Object.entries(this.options.metadata)) setDefault(key, value);
          const credentials = this.current;
          if (credentials?.type === 'ensight-security-token') setDefault('shared_secret', credentials.payload);
          // A call that brings its own authorization is the caller's business: no token fetched, none refused.
          const ownAuthorization = metadata.get('authorization').length > 0;
          if (!isExchanged(credentials) || ownAuthorization || path === AUTHENTICATE_PATH) {
            startWith(undefined);
            return;
          }
          this.token.get(() => {
            if (traceOn.dial) trace('dial', `${this.address}: fetching a bearer token for ${path}`);
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
}
