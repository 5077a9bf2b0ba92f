/**
 * What the emulator tests share: an in-process emulator on a private Unix socket, raw grpc-js
 * calls built from the protocol definitions (never the project's client), and a mailbox for
 * values that arrive asynchronously. Everything opened is closed at the test's teardown.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestApi } from '../harness/mod.ts';
import {
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  EnSightSubscriptionDefinition,
  UNLIMITED_MESSAGES,
  type ImageReply,
} from '../../src/protocol/mod.ts';
import { EnSightEmulator, type EmulatorOptions } from '../../src/emulator/mod.ts';
import { tempDir } from '../support/temp.ts';

/** Safety net for waits in tests; never a timing assertion. */
export const WAIT_MS = 20_000;

export { tempDir };

export interface InProcess {
  emulator: EnSightEmulator;
  address: string;
  token: string;
  dir: string;
}

/** An emulator in this process on a private Unix socket with a random token; stopped at teardown. */
export async function inProcessEmulator(t: TestApi, options: EmulatorOptions = {}): Promise<InProcess> {
  const dir = tempDir(t);
  const token = randomBytes(8).toString('hex');
  const emulator = new EnSightEmulator({ udsPathname: join(dir, 'ensight'), securityToken: token, ...options });
  t.teardown(() => emulator.stop());
  const { address } = await emulator.start();
  return { emulator, address, token, dir };
}

export function tokenMetadata(token: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('shared_secret', token);
  return metadata;
}

/** A raw grpc-js channel to `address`, closed at teardown. */
export function rawClient(t: TestApi, address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): grpc.Client {
  const client = new grpc.Client(address, credentials, { ...UNLIMITED_MESSAGES, ...options });
  t.teardown(() => client.close());
  return client;
}

type Definitions = typeof EnSightServiceDefinition;

function method(definitions: Definitions, name: string): grpc.MethodDefinition<object, object> {
  const found = definitions[name];
  if (!found) throw new Error(`no method ${name}`);
  return found as grpc.MethodDefinition<object, object>;
}

/** A unary call of EnSightService (or, with `definitions`, another service). */
export function unary<Res>(
  client: grpc.Client,
  name: string,
  request: object,
  metadata: grpc.Metadata,
  definitions: Definitions = EnSightServiceDefinition,
): Promise<Res> {
  const m = method(definitions, name);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata, (err, reply) =>
      err ? reject(err) : resolve(reply as Res),
    ),
  );
}

/** A server-streaming call of EnSightService; cancelled at teardown. */
export function serverStream<Res>(t: TestApi, client: grpc.Client, name: string, request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<Res> {
  const m = method(EnSightServiceDefinition, name);
  const call = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata) as grpc.ClientReadableStream<Res>;
  call.on('error', () => {});
  t.teardown(() => call.cancel());
  return call;
}

/** DynamicSceneGraphService.GetSceneStream; cancelled at teardown. */
export function sceneStream<Req, Res>(t: TestApi, client: grpc.Client, metadata: grpc.Metadata): grpc.ClientDuplexStream<Req, Res> {
  const m = method(DynamicSceneGraphServiceDefinition, 'GetSceneStream');
  const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadata) as unknown as grpc.ClientDuplexStream<Req, Res>;
  call.on('error', () => {});
  t.teardown(() => call.cancel());
  return call;
}

/** A FIFO of values that arrive asynchronously. */
export class Mailbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];

  put(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  get size(): number {
    return this.items.length;
  }

  take(what = 'a value', ms = WAIT_MS): Promise<T> {
    const ready = this.items.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(deliver), 1);
        reject(new Error(`no ${what} arrived within ${ms} ms`));
      }, ms);
      const deliver = (item: T) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(deliver);
    });
  }
}

export interface AssembledFrame {
  width: number;
  height: number;
  pixels: Uint8Array;
  /** How many ImageReply messages carried it. */
  messages: number;
}

/** Joins ImageReply chunks until `final` into whole frames. */
export function frameAssembler(out: Mailbox<AssembledFrame>): (reply: ImageReply) => void {
  let parts: Uint8Array[] = [];
  return (reply) => {
    parts.push(reply.pixels);
    if (!reply.final) return;
    const pixels = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      pixels.set(p, offset);
      offset += p.length;
    }
    out.put({ width: reply.width, height: reply.height, pixels, messages: parts.length });
    parts = [];
  };
}

/** A reverse EnSightSubscription server, as a client hosts it; shut down at teardown. */
export async function subscriptionServer(
  t: TestApi,
  handlers: grpc.UntypedServiceImplementation,
  interceptors: grpc.ServerInterceptor[] = [],
): Promise<string> {
  const server = new grpc.Server({ ...UNLIMITED_MESSAGES, interceptors });
  server.addService(EnSightSubscriptionDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()));
  return `127.0.0.1:${port}`;
}
