/**
 * Typed errors of the shared-memory transport, in the status vocabulary of EnSight's reference C
 * API: `code` is the name ('BAD_FILE_SIZE'), `status` the reference number (-3).
 */
import { EnSightError } from '../errors.ts';

/**
 * Status numbers of the reference C API, by name. The addon exports the same table
 * (`statusCodes`); a test holds the two together. This one serves where the addon does not load.
 */
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
 * The statuses a failure carries: every status but the three that report how a call went
 * (NOERROR, NO_FRAMEAVAILABLE, NO_BUFFERAVAILABLE). All of them are listed in `EnSightErrorCode`.
 */
export type ShmemErrorCode = Exclude<ShmemStatusCode, 'NOERROR' | 'NO_FRAMEAVAILABLE' | 'NO_BUFFERAVAILABLE'>;

/**
 * Every failure of the transport. Thrown for bad arguments, unusable or hostile files
 * (`BAD_FILE_SIZE`, `UNABLE_TO_OPEN_FILE`, `FRAME_TOO_LARGE`, …), use of a frame after unlock
 * (`NOT_LOCKED`), and use of a closed stream (`UNCONNECTED`).
 */
export class ShmemError extends EnSightError {
  override name = 'ShmemError';
  declare readonly code: ShmemErrorCode;
  /** The reference API's status number of `code`. */
  readonly status: number;

  constructor(message: string, code: ShmemErrorCode, status: number = SHMEM_STATUS[code], options?: { cause?: unknown }) {
    super(`${code}: ${message}`, code, options);
    this.status = status;
  }

  static of(code: ShmemErrorCode, message: string, options?: { cause?: unknown }): ShmemError {
    return new ShmemError(message, code, SHMEM_STATUS[code], options);
  }
}
