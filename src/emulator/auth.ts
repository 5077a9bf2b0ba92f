/**
 * The emulator's optional credential exchange (`proto.rpc.v1.AuthService`): API keys and robot
 * secrets traded for access tokens that expire, and every other call refused without a valid
 * `authorization: Bearer <token>`. Lets the client's dial() be tested against a real server.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { AUTHENTICATE_PATH, type AuthenticateRequest, type AuthenticateResponse } from '../protocol/mod.ts';
import { sameSecret } from '../protocol/secrets.ts';
import { StatusError } from './status.ts';

export interface EmulatorAuth {
  /** API key id (the entity) → key. */
  apiKeys?: Readonly<Record<string, string>>;
  /** Entity → robot secret (also accepted as `robot-location-secret`). */
  robotSecrets?: Readonly<Record<string, string>>;
  /** How long an access token is accepted. Default one hour. */
  tokenTtlMs?: number;
}

const DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000;
const BEARER = /^Bearer (.+)$/;

export class AccessTokens {
  private readonly expiries = new Map<string, number>();
  private readonly ttlMs: number;
  /** Tokens handed out so far. */
  issued = 0;

  constructor(private readonly auth: EmulatorAuth) {
    this.ttlMs = auth.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
  }

  private secretFor(type: string, entity: string): string | undefined {
    const table = type === 'api-key' ? this.auth.apiKeys : type === 'robot-secret' || type === 'robot-location-secret' ? this.auth.robotSecrets : undefined;
    return table && Object.hasOwn(table, entity) ? table[entity] : undefined;
  }

  authenticate(request: AuthenticateRequest): AuthenticateResponse {
    const { type = '', payload = '' } = request.credentials ?? {};
    const expected = this.secretFor(type, request.entity);
    if (expected === undefined || !sameSecret(payload, expected)) {
      throw new StatusError(grpc.status.UNAUTHENTICATED, `no ${type || 'credential'} of that value for entity "${request.entity}"`);
    }
    const now = Date.now();
    for (const [token, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(token);
    const accessToken = randomBytes(24).toString('base64url');
    this.expiries.set(accessToken, now + this.ttlMs);
    this.issued++;
    return { accessToken };
  }

  private accepts(header: grpc.MetadataValue | undefined): boolean {
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    const expiry = token === undefined ? undefined : this.expiries.get(token);
    return expiry !== undefined && expiry > Date.now();
  }

  /** Refuses every call but Authenticate that lacks a valid, unexpired bearer token. */
  interceptor(): grpc.ServerInterceptor {
    return refuseUnauthenticated((path, metadata) => {
      const header = metadata.get('authorization')[0];
      if (path === AUTHENTICATE_PATH || this.accepts(header)) return undefined;
      return header === undefined ? 'missing bearer token' : 'invalid or expired bearer token';
    });
  }
}

/**
 * A server interceptor that ends a call with UNAUTHENTICATED when `refusal` names a reason for
 * the method's path and the call's metadata, and lets it through when it returns undefined.
 */
export function refuseUnauthenticated(refusal: (path: string, metadata: grpc.Metadata) => string | undefined): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const details = refusal(method.path, metadata);
            if (details === undefined) pass(metadata);
            else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details });
          },
        }),
    });
}
