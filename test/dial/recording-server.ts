/**
 * A small gRPC server (grpc-js, in the test process) that writes down the headers of every call it
 * receives, so that a test can see exactly what a channel sent. Plaintext or TLS (optionally
 * requiring a client certificate); with an API key it runs the credential exchange and refuses
 * calls without a bearer token it issued, and its tokens can be revoked on demand.
 */
import * as grpc from '@grpc/grpc-js';
import type { TestApi } from '../harness/mod.ts';
import { AuthServiceDefinition, type AuthenticateRequest } from '../../src/protocol/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import type { TestCertificates } from '../support/certs.ts';

export interface RecordingServerSetup {
  /** TLS with the test PKI's server certificate; plaintext without. */
  tls?: { certs: TestCertificates; requireClientCertificate?: boolean };
  /** The one API key exchanged for bearer tokens; without it no token is asked for. */
  apiKey?: { id: string; key: string };
}

export interface ReceivedCall {
  method: string;
  /** Every header as text, keys lower case. */
  headers: Record<string, string>;
  /** Whether the server let the call through. */
  accepted: boolean;
}

const BEARER = /^Bearer (.+)$/;

export class RecordingServer {
  /** Calls other than Authenticate, in the order they arrived. */
  readonly received: ReceivedCall[] = [];
  /** Authenticate calls that issued a token. */
  authentications = 0;
  private readonly valid = new Set<string>();

  private constructor(
    private readonly server: grpc.Server,
    private readonly setup: RecordingServerSetup,
    /** `127.0.0.1:<port>`. */
    public address = '',
  ) {}

  static async start(t: TestApi, setup: RecordingServerSetup = {}): Promise<RecordingServer> {
    const server = new grpc.Server();
    const recording = new RecordingServer(server, setup);
    server.addService(AuthServiceDefinition, { Authenticate: recording.authenticate });
    server.addService(EnSightServiceDefinition, { RunPython: recording.runPython, GetEventStream: recording.eventStream });
    const credentials = setup.tls
      ? grpc.ServerCredentials.createSsl(
          setup.tls.certs.ca,
          [{ cert_chain: setup.tls.certs.serverCert, private_key: setup.tls.certs.serverKey }],
          setup.tls.requireClientCertificate ?? false,
        )
      : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    recording.address = `127.0.0.1:${port}`;
    t.teardown(() => server.forceShutdown());
    return recording;
  }

  /** The server forgets every token it issued: the next call with one is refused UNAUTHENTICATED. */
  revokeTokens(): void {
    this.valid.clear();
  }

  /** The headers the last recorded call carried. */
  get lastHeaders(): Record<string, string> | undefined {
    return this.received.at(-1)?.headers;
  }

  private readonly authenticate = (
    call: grpc.ServerUnaryCall<AuthenticateRequest, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ): void => {
    const { apiKey } = this.setup;
    const { entity, credentials } = call.request;
    if (!apiKey || entity !== apiKey.id || credentials?.type !== 'api-key' || credentials.payload !== apiKey.key) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'unknown API key' });
      return;
    }
    const token = `token-${++this.authentications}`;
    this.valid.add(token);
    callback(null, { accessToken: token });
  };

  /** Records the call; false (and the call is refused) when a bearer token is required and missing or revoked. */
  private admit(method: string, metadata: grpc.Metadata): boolean {
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(metadata.getMap())) headers[key] = String(value);
    const bearer = BEARER.exec(headers.authorization ?? '')?.[1];
    const accepted = !this.setup.apiKey || (bearer !== undefined && this.valid.has(bearer));
    this.received.push({ method, headers, accepted });
    return accepted;
  }

  private readonly runPython = (
    call: grpc.ServerUnaryCall<{ command: string }, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ): void => {
    if (!this.admit('RunPython', call.metadata)) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'no valid bearer token' });
      return;
    }
    callback(null, { value: call.request.command });
  };

  /** Records the stream's headers and ends it at once. */
  private readonly eventStream = (call: grpc.ServerWritableStream<unknown, unknown>): void => {
    if (!this.admit('GetEventStream', call.metadata)) {
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'no valid bearer token' });
      return;
    }
    call.end();
  };
}
