/**
 * An embedded stand-in for Ansys EnSight's gRPC server, for tests, demos and benchmarks.
 *
 * It serves all of `EnSightService` (RunPython in a real, persistent python3; RenderImage and
 * image streams of a software-rendered, animated torus; GetGeometry as GLB; event streams;
 * GRPC subscriptions; AnimSave) and `DynamicSceneGraphService`, with EnSight's launch flags,
 * transports (Unix socket, TCP, mutual TLS) and `shared_secret` token check. Stream frames carry
 * a verifiable stamp (see {@link verifyFrame}).
 *
 * ```ts
 * import { EnSightEmulator } from 'ensight-grpc/emulator';
 *
 * await using emulator = new EnSightEmulator({ udsPathname: '/tmp/my-ensight', securityToken: 's3cret' });
 * const { address } = await emulator.start(); // 'unix:/tmp/my-ensight.sock'
 * // …connect a client to `address` with metadata shared_secret: s3cret…
 * emulator.stepAnimation();                    // a new frame to every image stream
 * ```
 *
 * Or as a separate process, the way EnSight itself is launched:
 *
 * ```ts
 * import { launchEmulator } from 'ensight-grpc/emulator';
 *
 * const ensight = await launchEmulator(['-batch', '-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls'],
 *   { env: { ENSIGHT_SECURITY_TOKEN: 's3cret' } });
 * console.log(ensight.address);                // '127.0.0.1:40123'
 * await ensight.stop();
 * ```
 *
 * It is safe by default: given no token (and no `auth`), it makes a random one (`emulator.securityToken`,
 * `start()`'s and the ready line's `token`); `noSecurity` / `--no-security` turns the check off.
 *
 * RunPython code can drive the emulator through an `ensight` module: `ensight.render()`,
 * `ensight.anim.step(n)`, `ensight.view_transf.rotate(x, y, z)`, `ensight.event(suffix)`,
 * `ensight.frame_rate(fps)`, `ensight.stream_size(w, h)`, `ensight.exit(0)`, plus `ensight.version()`,
 * `ensight.objs.core` and `ensight.objs.enums` for Ansys' clients (see `python/runner.py`).
 *
 * @module
 */
export { EnSightEmulator, RENDER_EVENT, readyLine, type EmulatorAddress, type EmulatorStats } from './emulator.ts';
export { EmulatorStartError } from './server.ts';
export {
  DEFAULT_SHMEM_REAP_MS,
  DEFAULT_STREAM_SIZE,
  DEFAULT_SUBSCRIPTIONS_PER_CLIENT,
  DEFAULT_SUBSCRIPTIONS_TOTAL,
  DEFAULT_UDS_PATHNAME,
  ENSIGHT_DEFAULT_PORT,
  EmulatorUsageError,
  HELP_TEXT,
  parseEmulatorArgs,
  type EmulatorOptions,
  type ParsedArgs,
  type TlsFiles,
} from './options.ts';
export { emulatorCommand, launchEmulator, type EmulatorCommand, type EmulatorLaunchOptions, type EmulatorRuntime, type LaunchedEmulator } from './launch.ts';
export { MIN_STAMPED_WIDTH, stampFrame, verifyFrame, type FrameVerdict } from '../frame-stamp/mod.ts';
export { AccessTokens, type EmulatorAuth } from './auth.ts';
export { PYTHON_DIED, PYTHON_RAISED, type PythonEffect } from './python.ts';
export { SHMEM_MIN_FILE_BYTES } from './shmem-file-policy.ts';
export { DEFAULT_RENDER_BUDGET_BYTES } from './render-worker.ts';
export { MAX_CHUNK_BYTES, type EventSink, type ImageSink, type SinkStats } from './sinks.ts';
export type { StreamFrame } from './frames.ts';
