/**
 * Calls by method name on a dialled channel. The channel hands out the grpc-js client of its
 * current connection per call (a deferred transport), adds the credential, waits out reconnects,
 * and turns failures into {@link EnSightRpcError}s.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DialedChannel } from '../dial/mod.ts';

export interface CallOptions {
  /** Cancels the call; the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Per-call deadline in milliseconds, a positive number (else the call rejects with
   * `INVALID_ARGUMENT`); over ~24.8 days, `Infinity` included, the call has none.
   */
  timeoutMs?: number;
}

export class RpcChannel {
  constructor(
    readonly channel: DialedChannel,
    /** Deadline of a unary call that sets none (the client's `defaultTimeoutMs`); undefined: none. */
    private readonly defaultTimeoutMs?: number,
  ) {}

  private method(definition: grpc.ServiceDefinition, name: string): grpc.MethodDefinition<unknown, unknown> {
    const m = definition[name];
    if (!m) throw new Error(`ensight-grpc: no method ${name} in the service definition`);
    return m as grpc.MethodDefinition<unknown, unknown>;
  }

  /** Rejects with the signal's reason when `o.signal` aborted it, whatever the reason is. */
  async unary<Res>(definition: grpc.ServiceDefinition, name: string, request: object, o: CallOptions = {}): Promise<Res> {
    const options = o.timeoutMs === undefined && this.defaultTimeoutMs !== undefined ? { ...o, timeoutMs: this.defaultTimeoutMs } : o;
    try {
      return await this.channel.unary<Res>(this.method(definition, name), request, options);
    } catch (err) {
      if (o.signal?.aborted) throw o.signal.reason;
      throw err;
    }
  }

  serverStream<Res>(definition: grpc.ServiceDefinition, name: string, request: object, o: CallOptions = {}): grpc.ClientReadableStream<Res> {
    return this.channel.serverStream<Res>(this.method(definition, name), request, o);
  }

  bidiStream<Req, Res>(definition: grpc.ServiceDefinition, name: string, o: CallOptions = {}): grpc.ClientDuplexStream<Req, Res> {
    return this.channel.bidiStream<Req, Res>(this.method(definition, name), o);
  }

  close(): void {
    void this.channel.close();
  }
}
