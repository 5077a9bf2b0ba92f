/**
 * The credential exchange on the wire: `/proto.rpc.v1.AuthService/Authenticate` (from
 * `proto/rpc/v1/auth.proto`, loaded into a root of its own: it is Viam's, not EnSight's protocol).
 * Both ends use it: dial() asks for a bearer token, the emulator hands one out.
 */
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { protoDirectory } from './root.ts';
import { serviceDefinition } from './services.ts';

export const AUTH_PACKAGE = 'proto.rpc.v1';
export const AUTH_PROTO_FILE: string = join('rpc', 'v1', 'auth.proto');

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
