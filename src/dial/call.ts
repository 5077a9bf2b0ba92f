/** One unary call on a grpc-js client, cancelled by an AbortSignal, bounded by a per-call timeout. */
import * as grpc from '@grpc/grpc-js';
import { abortable, abortReason } from '../errors.ts';

export interface ChannelCallOptions {
  /** Cancels the call; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Per-call deadline in milliseconds. */
  timeoutMs?: number;
  /** Sent with the call; the channel adds its credential and dial metadata to what is not set here. */
  metadata?: grpc.Metadata;
}

export function grpcCallOptions(o: ChannelCallOptions): grpc.CallOptions {
  return o.timeoutMs !== undefined ? { deadline: Date.now() + o.timeoutMs } : {};
}

/** The method's name, for messages: `/pkg.Service/Method` → `Method`. */
export function methodName(method: grpc.MethodDefinition<unknown, unknown>): string {
  return method.originalName ?? method.path.slice(method.path.lastIndexOf('/') + 1);
}

/** Rejects with what grpc-js reported (a ServiceError) or the abort reason. */
export function unaryCall<Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<unknown, unknown>,
  request: unknown,
  o: ChannelCallOptions,
  callOptions: grpc.CallOptions = grpcCallOptions(o),
): Promise<Res> {
  const { signal } = o;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  let call: grpc.ClientUnaryCall | undefined;
  const reply = new Promise<Res>((resolve, reject) => {
    call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      o.metadata ?? new grpc.Metadata(),
      callOptions,
      (err, value) => (err ? reject(err) : resolve(value as Res)),
    );
  });
  return abortable(reply, signal, () => call?.cancel());
}
