/** gRPC status errors raised by the emulator's handlers and how they reach the caller. */
import * as grpc from '@grpc/grpc-js';

/** A failure with the gRPC status the caller should see. */
export class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
    this.name = 'StatusError';
  }
}

/** The status for any thrown value: a StatusError as is, anything else INTERNAL. */
export function statusOf(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof StatusError) return { code: err.code, details: err.details };
  return { code: grpc.status.INTERNAL, details: `emulator error: ${err instanceof Error ? err.message : String(err)}` };
}
