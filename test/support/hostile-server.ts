/**
 * A gRPC server that lies, for the client's robustness tests: it speaks HTTP/2 and gRPC's
 * length-prefixed framing by hand (node:http2), because a well-behaved gRPC library cannot be made
 * to send what it sends:
 *
 * - `GetImageStream`: 1 MiB chunks of a 1024×1024 frame (3 MiB declared) that never say `final`;
 * - `RenderImage`: a reply whose gRPC length prefix declares 2 GB, followed by zeros;
 * - `GetEventStream`: a flood of `events` event tags, then a normal end;
 * - `RunPython`: never answers;
 * - `GetAPIVersion`: answers (101), so the server looks alive to heartbeats.
 *
 * Everything it streams stops at `capBytes` (then the call is reset), so a client without bounds
 * shows its growth without taking the machine down. It counts what it sent, and whether the
 * client cancelled, for the tests to assert.
 */
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { messageType } from '../../src/protocol/mod.ts';

export interface HostileOptions {
  /** Event tags sent by GetEventStream. Default 200 000. */
  events?: number;
  /** Streaming stops (and the call is reset) after this many bytes. Default 320 MiB. */
  capBytes?: number;
}

export interface MethodStats {
  calls: number;
  /** Bytes of gRPC messages written (prefixes and payloads). */
  bytesSent: number;
  /** Messages written. */
  messages: number;
  /** Calls the client cancelled (reset) before the server was done. */
  cancelledByClient: number;
}

const MiB = 1024 * 1024;
/** What `RenderImage`'s length prefix declares. */
export const DECLARED_RENDER_BYTES = 2_000_000_000;
export const HOSTILE_FRAME = { width: 1024, height: 1024, chunkBytes: MiB } as const;

function frame(payload: Uint8Array, declaredLength = payload.byteLength): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(0, 0);
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, payload]);
}

function encode(type: string, value: object): Uint8Array {
  const t = messageType(type);
  return t.encode(t.fromObject(value)).finish();
}

export class HostileServer {
  readonly stats = new Map<string, MethodStats>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(
    private readonly server: http2.Http2Server,
    readonly port: number,
  ) {
    server.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
    });
  }

  static async start(options: HostileOptions = {}): Promise<HostileServer> {
    const server = http2.createServer();
    const holder: { hostile?: HostileServer } = {};
    server.on('stream', (stream, headers) => void holder.hostile?.serve(stream, String(headers[':path'] ?? ''), options));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
    holder.hostile = new HostileServer(server, port);
    return holder.hostile;
  }

  /** Client options that reach this server (plaintext TCP). */
  get clientOptions(): { grpcUseTcpSockets: true; grpcDisableTls: true; host: string; port: number; securityToken: string } {
    return { grpcUseTcpSockets: true, grpcDisableTls: true, host: '127.0.0.1', port: this.port, securityToken: 'hostile' };
  }

  method(name: string): MethodStats {
    let s = this.stats.get(name);
    if (!s) this.stats.set(name, (s = { calls: 0, bytesSent: 0, messages: 0, cancelledByClient: 0 }));
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(stream: http2.ServerHttp2Stream, path: string, options: HostileOptions): Promise<void> {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const stats = this.method(name);
    stats.calls++;
    let done = false;
    stream.on('close', () => {
      if (!done) stats.cancelledByClient++;
    });
    stream.on('error', () => {});
    stream.resume(); // the request itself does not matter
    const cap = options.capBytes ?? 320 * MiB;
    const write = async (chunk: Buffer, messages = 1): Promise<boolean> => {
      if (stream.closed || stream.destroyed) return false;
      stats.bytesSent += chunk.byteLength;
      stats.messages += messages;
      if (!stream.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            stream.off('drain', go);
            stream.off('close', go);
            resolve();
          };
          stream.on('drain', go);
          stream.on('close', go);
        });
      }
      return !stream.closed && !stream.destroyed;
    };
    const finish = (status = 0, message = '') => {
      done = true;
      if (stream.closed || stream.destroyed) return;
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status), 'grpc-message': message }));
      stream.end();
    };
    const reset = () => {
      done = true;
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    };
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    switch (name) {
      case 'GetAPIVersion':
        await write(frame(encode('VersionReply', { version: 101 })));
        return finish();
      case 'RunPython':
        return; // never answers
      case 'RenderImage': {
        await write(frame(new Uint8Array(0), DECLARED_RENDER_BYTES));
        const zeros = Buffer.alloc(MiB);
        while (stats.bytesSent < cap) if (!(await write(zeros))) return;
        return reset();
      }
      case 'GetImageStream': {
        const { width, height, chunkBytes } = HOSTILE_FRAME;
        const chunk = frame(encode('ImageReply', { width, height, pixels: new Uint8Array(chunkBytes), final: false }));
        while (stats.bytesSent < cap) if (!(await write(chunk))) return;
        return finish();
      }
      case 'GetEventStream': {
        const events = options.events ?? 200_000;
        // A thousand messages a write: the flood is about the client's queue, not the server's writes.
        for (let i = 0; i < events; ) {
          const batch: Buffer[] = [];
          for (const end = Math.min(events, i + 1000); i < end; i++) batch.push(frame(encode('EventReply', { tag: `grpc://hostile/flood?${i}` })));
          if (!(await write(Buffer.concat(batch), batch.length))) return;
        }
        return finish();
      }
      default:
        return finish(12, `the hostile server does not implement ${name}`);
    }
  }
}
