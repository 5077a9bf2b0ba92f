/**
 * Rows against a C-core gRPC frame server (frame_server.py, grpcio) instead of the emulator's
 * grpc-js server, so that they measure the client: this client's image stream (defaults, and
 * grpc-js's own 64 KiB window for comparison), the same stream read through `frames()`, and the
 * PyEnSight-style peer (peer.py) reading the same stream in the same run.
 *
 * Over a Unix socket (EnSight's client default) and, rows suffixed `-tcp`, over TCP on 127.0.0.1
 * (`-grpc_server {port}`). They differ in who sets the pace: a Unix socket buffers ~200 KB, so
 * the server's send of a 1 MB chunk completes only as the reader drains it and each chunk waits
 * for the server's turnaround (a reader that did nothing but count read chunked 1080p frames at
 * 1.02-1.04x the peer's rate, taking turns); TCP's autotuned buffers let the server run ahead,
 * and the reader's own cost per frame shows (the same counter read ~2x the peer's rate).
 */
import { EnSightGRPC } from '../../src/mod.ts';
import { GRPC_JS_WINDOW, type Transport, type OpenTransport, type FrameSourceControl } from '../lib/transports.ts';
import { frameBytes, stampedFrameNumber, type SeenLog } from '../lib/measure.ts';
import { CoreFrameServer, PyEnSightPeer } from './processes.ts';

function control(server: CoreFrameServer): FrameSourceControl {
  return {
    configure: (size, fps) => server.configure(size, fps),
    stop: () => server.stopFrames(),
    publishTimes: () => server.publishTimes(),
  };
}

type Note = (pixels: Uint8Array) => void;

/**
 * How a row's consumer reads frames: `onImage` (a buffer a frame, the user's to keep), or
 * `frames()`, the API without a per-frame buffer: each view's stamp is read and the view
 * released (chunked frames are joined into pooled buffers that come back on release). Both read
 * from the start, so that the stream never waits on an idle reader. Returns what stops reading.
 */
const READERS = {
  onImage(client: EnSightGRPC, note: Note): () => Promise<void> {
    client.onImage((frame) => note(frame.pixels));
    return async () => undefined;
  },
  frames(client: EnSightGRPC, note: Note): () => Promise<void> {
    const frames = client.frames();
    const reading = (async () => {
      for await (const frame of frames) {
        note(frame.pixels);
        frame.release();
      }
    })();
    return async () => {
      await frames.return(undefined);
      await reading.catch(() => undefined);
    };
  },
};

/** This client's GetImageStream against the C-core server, read through `api`. */
function clientRow(
  name: string,
  chunk: boolean,
  api: keyof typeof READERS = 'onImage',
  { channelOptions = {}, tcp = false }: { channelOptions?: Record<string, number>; tcp?: boolean } = {},
): Transport {
  return {
    name,
    publishKind: 'stream',
    async open(): Promise<OpenTransport> {
      const server = await CoreFrameServer.start({ tcp });
      const client = new EnSightGRPC({ ...server.target, channelOptions });
      try {
        if (!(await client.connect({ timeoutMs: 15_000 }))) throw new Error(`bench: cannot reach the C-core server: ${String(client.lastConnectError)}`);
        let current: SeenLog | undefined;
        const stopReading = READERS[api](client, (pixels) => current?.saw(stampedFrameNumber(pixels), pixels.byteLength));
        client.imageStreamEnable({ chunk });
        return {
          source: control(server),
          async run(seen, until) {
            current = seen;
            await new Promise((r) => setTimeout(r, Math.max(0, until - performance.now())));
            current = undefined;
          },
          async close() {
            await client.shutdown();
            await stopReading();
            await server.close();
          },
        };
      } catch (err) {
        await client.shutdown();
        await server.close();
        throw err;
      }
    },
  };
}

/** The PyEnSight-style peer: its frames and CPU come from its own process. */
function peerRow(name: string, chunk: boolean, { tcp = false }: { tcp?: boolean } = {}): Transport {
  return {
    name,
    publishKind: 'stream',
    async open(_session, size): Promise<OpenTransport> {
      const server = await CoreFrameServer.start({ tcp });
      let peer: PyEnSightPeer;
      try {
        peer = await PyEnSightPeer.start(server.address, { chunk });
      } catch (err) {
        await server.close();
        throw err;
      }
      return {
        source: control(server),
        async run(seen, until) {
          await peer.start();
          await new Promise((r) => setTimeout(r, Math.max(0, until - performance.now())));
          const record = await peer.stop();
          if (record.error) throw new Error(`bench: the peer's stream failed: ${record.error}`);
          seen.frames.push(...record.frames);
          seen.times.push(...record.times);
          seen.bytes += record.frames.length * frameBytes(size);
          return { cpuPct: record.cpuPct };
        },
        async close() {
          await peer.close();
          await server.close();
        },
      };
    },
  };
}

/** The C-core rows, in table order. */
export const CORE_TRANSPORTS: Transport[] = [
  clientRow('core-grpc-stream', false),
  clientRow('core-grpc-stream-chunked', true),
  clientRow('core-grpc-stream-64k', false, 'onImage', { channelOptions: { 'grpc-node.flow_control_window': GRPC_JS_WINDOW } }),
  clientRow('core-grpc-frames', false, 'frames'),
  clientRow('core-grpc-frames-chunked', true, 'frames'),
  peerRow('core-peer-stream', false),
  peerRow('core-peer-stream-chunked', true),
  clientRow('core-grpc-stream-tcp', false, 'onImage', { tcp: true }),
  clientRow('core-grpc-stream-chunked-tcp', true, 'onImage', { tcp: true }),
  clientRow('core-grpc-frames-chunked-tcp', true, 'frames', { tcp: true }),
  peerRow('core-peer-stream-tcp', false, { tcp: true }),
  peerRow('core-peer-stream-chunked-tcp', true, { tcp: true }),
];
