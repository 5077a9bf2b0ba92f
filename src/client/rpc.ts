/**
 * Calls on one grpc-js channel by method name, with the client's metadata merged in, an
 * AbortSignal that cancels the call, and failures turned into {@link EnSightRpcError}s.
 */
import * as grpc from '@grpc/grpc-js';
import { abortReason, toEnSightError } from '../errors.ts';

export interface CallOptions {
  /** Cancels the call; the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Per-call deadline in milliseconds. */
  timeoutMs?: number;
}

export class RpcChannel {
  constructor(
    readonly client: grpc.Client,
    private readonly metadata: () => grpc.Metadata,
  ) {}

  private method(definition: grpc.ServiceDefinition, name: string): grpc.MethodDefinition<object, unknown> {
    const m = definition[name];
    if (!m) throw new Error(`ensight-grpc: no method ${name} in the service definition`);
    return m as grpc.MethodDefinition<object, unknown>;
  }

  private options(o: CallOptions): grpc.CallOptions {
    return o.timeoutMs !== undefined ? { deadline: Date.now() + o.timeoutMs } : {};
  }

  unary<Res>(definition: grpc.ServiceDefinition, name: string, request: object, o: CallOptions = {}): Promise<Res> {
    const m = this.method(definition, name);
    if (o.signal?.aborted) return Promise.reject(abortReason(o.signal));
    return new Promise<Res>((resolve, reject) => {
      const onAbort = () => {
        call.cancel();
        reject(abortReason(o.signal as AbortSignal));
      };
      const call = this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        this.metadata(),
        this.options(o),
        (err, value) => {
          o.signal?.removeEventListener('abort', onAbort);
          if (err) reject(toEnSightError(name, err));
          else resolve(value as Res);
        },
      );
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  serverStream<Res>(definition: grpc.ServiceDefinition, name: string, request: object, o: CallOptions = {}) {
    const m = this.method(definition, name);
    return this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      request,
      this.metadata(),
      this.options(o),
    ) as grpc.ClientReadableStream<Res>;
  }

  bidiStream<Req, Res>(definition: grpc.ServiceDefinition, name: string, o: CallOptions = {}) {
    const m = this.method(definition, name);
    return this.client.makeBidiStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      this.metadata(),
      this.options(o),
    ) as grpc.ClientDuplexStream<Req, Res>;
  }

  close(): void {
    this.client.close();
  }
}
