/**
 * ensight-grpc: a typed client for Ansys EnSight's gRPC API, for Node, Bun and Deno.
 *
 * ```ts
 * import { EnSightGRPC } from 'ensight-grpc';
 *
 * await using ensight = new EnSightGRPC({ grpcUdsPathname: '/tmp/ensight' });
 * ensight.setSecurityToken(process.env.ENSIGHT_SECURITY_TOKEN ?? '');
 * if (!(await ensight.connect({ timeoutMs: 5000 }))) throw new Error('EnSight is not running');
 * console.log(await ensight.command('1 + 1'));            // 2
 * const png = await ensight.render({ width: 800, height: 600 });
 * ```
 *
 * @module
 */
export * from './client/mod.ts';
export * from './dial/mod.ts';
export { ENSIGHT_ERROR_CODES, EnSightError, EnSightPythonError, EnSightRpcError, type EnSightErrorCode, type GrpcStatusName } from './errors.ts';
export { SHMEM_STATUS, ShmemError, type ShmemErrorCode, type ShmemStatusCode } from './shmem/errors.ts';
export { EmulatorStartError } from './emulator/server.ts';
export { EmulatorUsageError } from './emulator/options.ts';
export * as protocol from './protocol/mod.ts';
export { DsgWireError } from './protocol/mod.ts';
export * from './scene/mod.ts';
export { capture, measureCapture, CaptureError, CAPTURE_EXIT_CODES, type CaptureOptions, type CaptureSummary, type CaptureMeasurement, type MeasureCaptureOptions } from './capture/mod.ts';
