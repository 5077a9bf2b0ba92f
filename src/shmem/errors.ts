/**
 * Typed errors of the shared-memory transport, in the status vocabulary of EnSight's reference C
 * API: `code` is the name ('BAD_FILE_SIZE'), `status` the reference number (-3).
 */

/** Status numbers of the reference C API, by name. */
export const SHMEM_STATUS = {
  UNCONNECTED: 4,
  RECONNECTING: 3,
  NO_FRAMEAVAILABLE: 2,
  NO_BUFFERAVAILABLE: 1,
  NOERROR: 0,
  BAD_ARGS: -1,
  NOT_LOCKED: -2,
  BAD_FILE_SIZE: -3,
  UNABLE_TO_OPEN_FILE: -4,
  UNABLE_TO_MAP_FILE: -5,
  MEMORY_ALLOC_ERROR: -6,
  THREAD_CREATE_ERROR: -7,
  IS_SERVER: -8,
  IS_NOTSERVER: -9,
  FRAME_TOO_LARGE: -10,
  LOCKED: -11,
} as const;

export type ShmemStatusCode = keyof typeof SHMEM_STATUS;

/**
 * Every failure of the transport. Thrown for bad arguments, unusable or hostile files
 * (`BAD_FILE_SIZE`, `UNABLE_TO_OPEN_FILE`, `FRAME_TOO_LARGE`, …), use of a frame after unlock
 * (`NOT_LOCKED`), and use of a closed stream (`UNCONNECTED`).
 */
export class ShmemError extends Error {
  override readonly name = 'ShmemError';
  readonly code: ShmemStatusCode;
  readonly status: number;

  constructor(code: ShmemStatusCode, status: number, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }

  static of(code: ShmemStatusCode, message: string): ShmemError {
    return new ShmemError(code, SHMEM_STATUS[code], message);
  }
}
