/**
 * The `EnSightSubscription` service a client hosts so that EnSight can call it back with events
 * (`PublishEvent`) and frames (`PublishImage`, one client-streaming call a frame) after
 * `SubscribeEvents` / `SubscribeImages`. It accepts only calls carrying the secret the client
 * handed to EnSight in the subscription's options.
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  EnSightSubscriptionDefinition,
  UNLIMITED_MESSAGES,
  type EventReply,
  type GenericResponse,
  type ImageReply,
} from '../protocol/mod.ts';
import { sameSecret } from '../protocol/secrets.ts';
import { EnSightError } from '../errors.ts';
import { FrameAssembler, FramePool } from './frames.ts';
import { PublishOrder } from './publish-order.ts';
import type { ClientLimits } from './limits.ts';

export type SubscriptionLimits = Pick<ClientLimits, 'maxReplyBytes' | 'maxFrameBytes'>;

export interface SubscriptionHandlers {
  onImage(frame: { width: number; height: number; pixels: Uint8Array }): void;
  onEvent(tag: string): void;
  /** A PublishImage call delivered a malformed frame or ended mid-frame. */
  onError?(err: Error): void;
}

function secretMatches(metadata: grpc.Metadata, secret: Buffer): boolean {
  return sameSecret(metadata.get('shared_secret')[0], secret);
}

const REFUSED = { code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong shared_secret' };

export class SubscriptionServer {
  private constructor(
    private readonly server: grpc.Server,
    private readonly counts: { calls: number },
    /** `host:port` EnSight is told to call back. */
    readonly uri: string,
    /** The secret EnSight must send back as `shared_secret`. */
    readonly secret: string,
  ) {}

  /** Listen on `host`, an ephemeral port, plaintext (as EnSight's own client does). */
  static async start(host: string, handlers: SubscriptionHandlers, limits: SubscriptionLimits): Promise<SubscriptionServer> {
    const secret = randomBytes(24).toString('base64url');
    const secretBytes = Buffer.from(secret);
    // A message larger than maxReplyBytes fails its call (RESOURCE_EXHAUSTED) before it is buffered.
    const server = new grpc.Server({ ...UNLIMITED_MESSAGES, 'grpc.max_receive_message_length': limits.maxReplyBytes });
    // EnSight publishes a frame a call: one pool for all of them, so a chunked frame is joined in a
    // reused buffer rather than a new one a call (see FrameAssembler).
    const joinPool = new FramePool();
    const counts = { calls: 0 };
    // Frames go on in the order their calls began, whichever call finishes first.
    const order = new PublishOrder<{ width: number; height: number; pixels: Uint8Array }>(
      (frame) => handlers.onImage(frame),
      () => handlers.onError?.(new EnSightError('a PublishImage frame came after later frames had been handed on: dropped', 'BAD_FRAME')),
    );
    server.addService(EnSightSubscriptionDefinition, {
      PublishEvent(
        call: grpc.ServerUnaryCall<EventReply, GenericResponse>,
        callback: grpc.sendUnaryData<GenericResponse>,
      ) {
        if (!secretMatches(call.metadata, secretBytes)) return callback(REFUSED);
        counts.calls++;
        handlers.onEvent(call.request.tag);
        callback(null, { str: 'Event Published' });
      },
      PublishImage(
        call: grpc.ServerReadableStream<ImageReply, GenericResponse>,
        callback: grpc.sendUnaryData<GenericResponse>,
      ) {
        if (!secretMatches(call.metadata, secretBytes)) {
          call.destroy();
          return callback(REFUSED);
        }
        counts.calls++;
        const place = order.begin();
        const assembler = new FrameAssembler(limits.maxFrameBytes, undefined, joinPool);
        let failed: Error | undefined;
        // A malformed frame ends the call at once: whatever the publisher sends after it is not read.
        const fail = (err: Error) => {
          failed = err;
          assembler.reset();
          order.end(place);
          handlers.onError?.(err);
          callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        };
        call.on('data', (reply: ImageReply) => {
          if (failed) return;
          try {
            const frame = assembler.push(reply);
            if (frame) order.put(place, frame);
          } catch (err) {
            fail(err as Error);
          }
        });
        call.on('end', () => {
          if (failed) return;
          if (assembler.partial) fail(new EnSightError('PublishImage ended in the middle of a frame', 'TRUNCATED_FRAME'));
          else {
            order.end(place);
            callback(null, { str: 'Image Published' });
          }
        });
        call.on('error', () => {
          assembler.reset();
          order.end(place);
        });
        call.on('cancelled', () => order.end(place));
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    return new SubscriptionServer(server, counts, `${host.includes(':') ? `[${host}]` : host}:${port}`, secret);
  }

  /** Calls EnSight made with the secret: signs that it is alive (see ServerWatch). */
  get callsReceived(): number {
    return this.counts.calls;
  }

  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
      // A PublishImage call EnSight never finishes must not hold the client open.
      timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
    });
    clearTimeout(timer);
  }
}
