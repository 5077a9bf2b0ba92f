/**
 * How much a server can make the client hold. The client runs inside someone else's process and
 * often talks to a server on another machine: whatever that server sends (a reply declaring 2 GB,
 * a frame whose chunks never end, a million events), memory stays bounded and the failure is typed.
 */
import type * as grpc from '@grpc/grpc-js';
import { checkTimeoutMs } from '../dial/call.ts';
import { EnSightError } from '../errors.ts';

/** Largest raw render admitted by default: 8192×8192 RGB is 192 MiB; 256 MiB leaves room for framing. */
export const DEFAULT_MAX_REPLY_BYTES = 256 * 1024 * 1024;
/** Largest image frame admitted by default (the same 8192×8192 RGB, with room to spare). */
export const DEFAULT_MAX_FRAME_BYTES = DEFAULT_MAX_REPLY_BYTES;
/** Event tags kept for `getEvent()` when nobody reads them; beyond it the oldest are dropped. */
export const DEFAULT_MAX_QUEUED_EVENTS = 10_000;

export interface ClientLimits {
  /** Largest message accepted from EnSight (a unary reply, a stream message, a published frame). */
  maxReplyBytes: number;
  /** Largest image frame assembled from chunks, whatever its header declares. */
  maxFrameBytes: number;
  /** Event tags queued for `getEvent()`. */
  maxQueuedEvents: number;
  /**
   * Deadline of unary calls that set none; undefined: none (EnSight's own client has none). The
   * same rule as a call's own `timeoutMs`: over ~24.8 days (`Infinity` included) is none.
   */
  defaultTimeoutMs: number | undefined;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new EnSightError(`${name} must be a positive integer, got ${String(value)}`, 'INVALID_ARGUMENT');
  }
  return value;
}

export function resolveLimits(o: Partial<ClientLimits>): ClientLimits {
  const defaultTimeoutMs = o.defaultTimeoutMs;
  checkTimeoutMs('defaultTimeoutMs', defaultTimeoutMs, (message) => new EnSightError(message, 'INVALID_ARGUMENT'));
  return {
    // grpc-js reads the limit as a 32-bit signed length.
    maxReplyBytes: Math.min(positiveInteger('maxReplyBytes', o.maxReplyBytes, DEFAULT_MAX_REPLY_BYTES), 2 ** 31 - 1),
    maxFrameBytes: positiveInteger('maxFrameBytes', o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES),
    maxQueuedEvents: positiveInteger('maxQueuedEvents', o.maxQueuedEvents, DEFAULT_MAX_QUEUED_EVENTS),
    defaultTimeoutMs,
  };
}

/**
 * grpc-js checks a message's declared length before it buffers the message, and fails the call
 * with RESOURCE_EXHAUSTED: a reply that declares 2 GB costs nothing.
 */
export function receiveLimit(limits: ClientLimits): grpc.ChannelOptions {
  return { 'grpc.max_receive_message_length': limits.maxReplyBytes, 'grpc.max_send_message_length': -1 };
}
