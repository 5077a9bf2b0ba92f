/**
 * Typed errors. Every failure the library reports is an {@link EnSightError} with a stable
 * `code` from {@link EnSightErrorCode}, so callers can branch on it without parsing messages.
 * Component classes (`DialError`, `ShmemError`, `CaptureError`, …) narrow `code` to their part
 * of the vocabulary; `details`, where a class has it, is always the server's or the OS's own
 * words as text, never an object.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

/** gRPC's status names, in status-number order, as `EnSightRpcError.code` (and dial) report them. */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export type GrpcStatusName = (typeof GRPC_STATUS_NAMES)[number];

/**
 * Every code an {@link EnSightError} can carry, by the part of the library that reports it.
 * The README's error table lists the same codes in the same order (test/errors/vocabulary.test.ts
 * holds the two together, and checks that every code thrown under src/ is here).
 */
export const ENSIGHT_ERROR_CODES = [
  /** gRPC status names: a failed call (`EnSightRpcError`), dial, argument checks. */
  ...GRPC_STATUS_NAMES,
  /** The client (`EnSightGRPC`): used before `connect()`, lost connection, frames, subscriptions. */
  'NOT_CONNECTED',
  'CONNECTION_LOST',
  'SERVER_EXITED',
  'LAUNCH_FAILED',
  'TLS_MATERIAL_MISSING',
  'PYTHON_ERROR',
  'BAD_JSON',
  'UNPARSABLE_RESULT',
  'BAD_FRAME',
  'TRUNCATED_FRAME',
  'FRAME_RELEASED',
  'FRAMES_BUSY',
  'ALREADY_STARTED',
  'ALREADY_SUBSCRIBED',
  'NOT_SUBSCRIBED',
  /** dial(). */
  'INVALID_ADDRESS',
  'INSECURE_ADDRESS',
  'CERTIFICATE_ERROR',
  'TLS_ERROR',
  'CHANNEL_CLOSED',
  'RECONNECTING',
  /** The shared-memory transport: the status names of EnSight's reference C API. */
  'UNCONNECTED',
  'BAD_ARGS',
  'NOT_LOCKED',
  'BAD_FILE_SIZE',
  'UNABLE_TO_OPEN_FILE',
  'UNABLE_TO_MAP_FILE',
  'MEMORY_ALLOC_ERROR',
  'THREAD_CREATE_ERROR',
  'IS_SERVER',
  'IS_NOTSERVER',
  'FRAME_TOO_LARGE',
  'LOCKED',
  /** The dynamic scene graph: wire decoding and scene assembly. */
  'DSG_MALFORMED',
  'BIG_ENDIAN_HOST',
  'ARRAY_TOO_LARGE',
  'ARRAY_TYPE_MISMATCH',
  'CHUNK_OUT_OF_BOUNDS',
  'INVALID_OPTION',
  'MISSING_MEMBER',
  'NO_STREAM',
  'SCENE_TOO_LARGE',
  /** glTF: a GLB container that cannot be read (`readGlb`). */
  'GLB_MALFORMED',
  /** The emulator: its command line and its start. */
  'EMULATOR_USAGE',
  'EMULATOR_START',
  /** ensight-capture. */
  'CAPTURE_USAGE',
  'CAPTURE_OUTPUT',
  'CAPTURE_SOURCE',
  'CAPTURE_ENCODER',
] as const;

export type EnSightErrorCode = (typeof ENSIGHT_ERROR_CODES)[number];

export class EnSightError extends Error {
  override name = 'EnSightError';
  constructor(
    message: string,
    /** Stable machine-readable reason, e.g. `NOT_CONNECTED`, `UNAUTHENTICATED`, `PYTHON_ERROR`. */
    readonly code: EnSightErrorCode,
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

/** gRPC's name for a status number; a number gRPC does not define is `UNKNOWN` (the RPC error keeps the number in `status`). */
export function statusName(status: number): GrpcStatusName {
  return (GrpcStatus[status] as GrpcStatusName | undefined) ?? 'UNKNOWN';
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
  return err instanceof Error ? err : new EnSightError(errorText(err), 'UNKNOWN');
}

/**
 * The reason an AbortSignal was aborted, to reject with as is: the `AbortError` DOMException of
 * `abort()`, the `TimeoutError` of `AbortSignal.timeout()`, or whatever the caller passed to
 * `abort(reason)` (as `fetch` and grpc-js users expect).
 */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** The text of anything thrown: an Error's message, or the value itself as text. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `work`, or a rejection with the abort reason as soon as `signal` aborts, whichever comes
 * first. `onAbort` runs only when the abort wins, so the work can release what it holds; the
 * listener is removed either way, so a long-lived signal collects none.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort?: () => void): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    onAbort?.();
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort?.();
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
