/**
 * Typed errors. Every failure the library reports is an {@link EnSightError} with a stable
 * string `code`, so callers can branch on it without parsing messages.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export class EnSightError extends Error {
  override name = 'EnSightError';
  constructor(
    message: string,
    /** Stable machine-readable reason, e.g. `NOT_CONNECTED`, `UNAUTHENTICATED`, `PYTHON_ERROR`. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A gRPC call failed; `code` is the status name (`UNAVAILABLE`, `UNAUTHENTICATED`, …). */
export class EnSightRpcError extends EnSightError {
  override name = 'EnSightRpcError';
  constructor(
    /** The RPC, e.g. `RunPython`. */
    readonly method: string,
    /** The numeric gRPC status. */
    readonly status: GrpcStatus,
    /** The server's status details. */
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} failed: ${GrpcStatus[status] ?? status}${details ? `: ${details}` : ''}`, statusName(status), options);
  }
}

/** Python raised inside EnSight; `remoteError` is the traceback text EnSight returned. */
export class EnSightPythonError extends EnSightError {
  override name = 'EnSightPythonError';
  constructor(
    readonly command: string,
    readonly remoteError: string,
    /** EnSight's (negative) `PythonReply.error`. */
    readonly errorNumber: number,
  ) {
    super(`EnSight Python error: ${lastLine(remoteError)}`, 'PYTHON_ERROR');
  }
}

export function statusName(status: number): string {
  return GrpcStatus[status] ?? `STATUS_${status}`;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || text;
}

interface GrpcServiceError {
  code: number;
  details: string;
  message: string;
}

/** The highest status code gRPC defines (UNAUTHENTICATED). */
const LAST_GRPC_STATUS = 16;

/**
 * What grpc-js reports: a status code gRPC defines and its `details`. A numeric `code` alone is
 * not enough: an aborted call's DOMException carries the legacy DOM code 20 (ABORT_ERR), and Node's
 * system errors carry codes of their own.
 */
function isGrpcError(err: unknown): err is GrpcServiceError {
  if (typeof err !== 'object' || err === null) return false;
  const { code, details, name } = err as { code?: unknown; details?: unknown; name?: unknown };
  return (
    typeof code === 'number' &&
    Number.isInteger(code) &&
    code >= 0 &&
    code <= LAST_GRPC_STATUS &&
    typeof details === 'string' &&
    name !== 'AbortError' &&
    name !== 'TimeoutError'
  );
}

/** Turn what grpc-js rejected with into an {@link EnSightRpcError}; anything else passes through. */
export function toEnSightError(method: string, err: unknown): Error {
  if (err instanceof EnSightError) return err;
  if (isGrpcError(err)) return new EnSightRpcError(method, err.code, err.details, { cause: err });
  return err instanceof Error ? err : new EnSightError(String(err), 'UNKNOWN');
}

/**
 * The reason an AbortSignal was aborted, to reject with as is: the `AbortError` DOMException of
 * `abort()`, the `TimeoutError` of `AbortSignal.timeout()`, or whatever the caller passed to
 * `abort(reason)` (as `fetch` and grpc-js users expect).
 */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
