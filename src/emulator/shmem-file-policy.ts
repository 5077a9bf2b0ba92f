/**
 * Which files `SubscribeImages(SHARED_MEM, {filename})` may make the emulator map and write.
 *
 * The emulator writes 48 bytes of headers (and then frames) into whatever file a caller names, with
 * the emulator's privileges. So it maps only a file that looks like what EnSight's clients create
 * for a stream: a fresh, zero-filled regular file of their own. A file is refused when
 *
 * - its path is relative or has `.`/`..` components, or any component is a symbolic link (each is
 *   lstat'ed from the root; the file itself is opened with O_NOFOLLOW and must be the inode lstat
 *   saw): a caller may not redirect the emulator into someone else's directory;
 * - it is not a regular file, or has more than one hard link (a link to another file);
 * - it is smaller than {@link SHMEM_MIN_FILE_BYTES};
 * - it is not owned by the emulator's uid: gRPC (grpc-js in Node, Bun and Deno) exposes no peer
 *   credentials of a Unix-socket caller, so the caller's uid cannot be known, and a file the
 *   emulator's user owns is the most a caller can be trusted to have made for it;
 * - its header area holds something other than zeros or a valid stream header.
 *
 * The descriptor opened here stays open for the subscription's life: its link count tells when
 * the client deleted the file (see shmem-sink.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import process from 'node:process';
import { errorText } from '../errors.ts';
import { StatusError } from './status.ts';

/**
 * The smallest file mapped. Ansys' header documents BAD_FILE_SIZE as "too small (<10MB)"; the same
 * sources size files in binary megabytes (EnSight's Python clients make "25 MB" files of
 * 25 * 1024 * 1024 bytes), so 10 MB is read as 10 MiB, the stricter of the two readings.
 */
export const SHMEM_MIN_FILE_BYTES = 10 * 1024 * 1024;

const HEADER_BYTES = 24;
const BUFFER_COUNT = 2;
const STATE_OFFSET = 20;
/** Buffer states 0..4 (server owned … unconnected); anything larger is not a stream header. */
const LAST_STATE = 4;
/** Payload alignment of an earlier producer layout; header 1 may sit at either position. */
const LEGACY_PAYLOAD_ALIGN = 64;

function refuse(path: string, why: string): never {
  throw new StatusError(grpc.status.FAILED_PRECONDITION, `refusing ${path} for shared-memory images: ${why}`);
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Why a 24-byte header is not one a stream (fresh or running) would hold; undefined if it is. */
function headerProblem(header: Buffer): string | undefined {
  if (header.every((b) => b === 0)) return undefined;
  const state = header[STATE_OFFSET]!;
  if (state > LAST_STATE) return `buffer state byte ${state}`;
  if (header[21] !== 0 || header[22] !== 0 || header[23] !== 0) return 'non-zero padding';
  const height = header.readUInt32LE(8);
  const offset = header.readUInt32LE(12);
  const scanlines = header.readUInt32LE(16);
  if (offset + scanlines > height) return `a block of rows ${offset}+${scanlines} beyond its height ${height}`;
  return undefined;
}

/** Where header 1 may start in a file of `size` bytes: the plain C layout, and the 64-aligned one. */
function headerOnePositions(size: number): number[] {
  const payload = Math.floor((size - BUFFER_COUNT * HEADER_BYTES) / BUFFER_COUNT);
  const aligned = Math.floor(payload / LEGACY_PAYLOAD_ALIGN) * LEGACY_PAYLOAD_ALIGN;
  return [...new Set([HEADER_BYTES + payload, HEADER_BYTES + aligned])];
}

function readAt(fd: number, position: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES);
  readSync(fd, bytes, 0, HEADER_BYTES, position);
  return bytes;
}

/** lstat of every component from the root down; the last one's stats. */
function walk(path: string): Stats {
  if (!isAbsolute(path)) refuse(path, 'the path must be absolute');
  const parts = path.split(sep).filter((part, i) => i === 0 || part !== '');
  if (parts.some((part) => part === '.' || part === '..')) refuse(path, 'the path must not contain "." or ".." components');
  let prefix = '';
  let stat: Stats | undefined;
  for (const part of parts.slice(1)) {
    prefix += sep + part;
    try {
      stat = lstatSync(prefix);
    } catch (err) {
      refuse(path, `${prefix}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorText(err)}`);
    }
    if (stat.isSymbolicLink()) refuse(path, `${prefix} is a symbolic link`);
  }
  if (!stat) refuse(path, 'the path names no file');
  return stat;
}

/** An open, checked stream file. */
export class StreamFile {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Checks `path` against the policy above and opens it; FAILED_PRECONDITION says why not. */
  static open(path: string): StreamFile {
    const seen = walk(path);
    if (!seen.isFile()) refuse(path, `it is ${kindOf(seen)}`);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      refuse(path, `cannot open it: ${errorText(err)}`);
    }
    const file = new StreamFile(path, fd);
    try {
      file.check(seen);
      return file;
    } catch (err) {
      file.close();
      throw err;
    }
  }

  private check(seen: Stats): void {
    const { path } = this;
    const stat = fstatSync(this.fd!);
    if (stat.ino !== seen.ino || stat.dev !== seen.dev || !stat.isFile()) refuse(path, 'it was replaced while being checked');
    if (stat.nlink !== 1) refuse(path, `it has ${stat.nlink} hard links; a fresh stream file has one`);
    if (stat.size < SHMEM_MIN_FILE_BYTES) {
      refuse(path, `it is ${stat.size} bytes; a stream file has at least ${SHMEM_MIN_FILE_BYTES} (EnSight's BAD_FILE_SIZE: "too small (<10MB)")`);
    }
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) refuse(path, `it is owned by uid ${stat.uid}, not by the emulator's uid ${uid}`);
    const header0 = headerProblem(readAt(this.fd!, 0));
    if (header0) refuse(path, `it is not a stream file: header 0 holds ${header0}`);
    const problems = headerOnePositions(stat.size).map((at) => headerProblem(readAt(this.fd!, at)));
    if (problems.every((p) => p !== undefined)) refuse(path, `it is not a stream file: header 1 holds ${problems[0]}`);
  }

  /** After the producer opened the path itself: it must still be this file. */
  confirmSame(): void {
    let now: Stats;
    try {
      now = lstatSync(this.path);
    } catch (err) {
      refuse(this.path, `it vanished while being mapped: ${errorText(err)}`);
    }
    const held = fstatSync(this.fd!);
    if (now.isSymbolicLink() || now.ino !== held.ino || now.dev !== held.dev) refuse(this.path, 'it was replaced while being mapped');
  }

  /** Links to the file left in the file system; 0 once the client deleted it. */
  linkCount(): number {
    return this.fd === undefined ? 0 : fstatSync(this.fd).nlink;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
