/** gRPC status errors raised by the emulator's handlers and how they reach the caller. */
import * as grpc from '@grpc/grpc-js';
import { EnSightError, errorText, statusName, type GrpcStatusName } from '../errors.ts';

/**
 * A failure with the gRPC status the caller should see: `status` the number, `code` its name,
 * `details` the status text sent (the text a client's `EnSightRpcError` carries
 * as its own `details`).
 */
export class StatusError extends EnSightError {
  override name = 'StatusError';
  declare readonly code: GrpcStatusName;
  constructor(
    readonly status: grpc.status,
    readonly details: string,
  ) {
    super(details, statusName(status));
  }
}

/** The status for any thrown value: a StatusError as is, anything else INTERNAL. */
export function statusOf(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof StatusError) return { code: err.status, details: err.details };
  return { code: grpc.status.INTERNAL, details: `emulator error: ${errorText(err)}` };
}
