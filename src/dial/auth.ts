/**
 * The credential exchange: `/proto.rpc.v1.AuthService/Authenticate` (from `proto/rpc/v1/auth.proto`,
 * loaded into a root of its own: it is not EnSight's protocol), and the bearer token it yields,
 * fetched once, shared by concurrent calls, dropped when the server rejects it.
 */
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { protoDirectory, serviceDefinition } from '../protocol/mod.ts';

export const AUTH_PACKAGE = 'proto.rpc.v1';
export const AUTH_PROTO_FILE = join('rpc', 'v1', 'auth.proto');

function loadAuthRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(join(protoDirectory(), AUTH_PROTO_FILE), { keepCase: false });
  root.resolveAll();
  return root;
}

export const authRoot: protobuf.Root = loadAuthRoot();

/** grpc-js definition of `proto.rpc.v1.AuthService`, for the client and the emulator. */
export const AuthServiceDefinition: grpc.ServiceDefinition = serviceDefinition(
  'AuthService',
  authRoot.lookupService(`${AUTH_PACKAGE}.AuthService`),
  AUTH_PACKAGE,
);

export const AUTHENTICATE_PATH = `/${AUTH_PACKAGE}.AuthService/Authenticate`;

export interface AuthenticateRequest {
  entity: string;
  credentials: { type: string; payload: string };
}
export interface AuthenticateResponse {
  accessToken: string;
}

/** The access token of one credential: shared by concurrent calls, dropped when the server refuses it. */
export class BearerToken {
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
