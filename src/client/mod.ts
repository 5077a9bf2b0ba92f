export {
  EnSightGRPC,
  type ClientStats,
  type AnimProgress,
  type AnimSaveOptions,
  type CommandOptions,
  type EnSightGRPCOptions,
  type ImageSubscription,
  type RenderOptions,
  type SubscribeImagesOptions,
} from './ensight-grpc.ts';
export { AsyncQueue } from './async-queue.ts';
export type { ImageFrame } from './frames.ts';
export { FrameReleasedError, FrameView, type FrameBlock, type FrameViews } from './frame-views.ts';
export type { LaunchOptions } from './launcher.ts';
export { parsePythonLiteral, type PythonValue } from './python-literal.ts';
export type { CallOptions } from './rpc.ts';
export type { StreamGap } from './resumable-stream.ts';
export { DEFAULT_UDS_PATHNAME, type ResolvedTarget, type TlsMaterial } from './target.ts';
export { tuneNodeGcForFrames } from './node-gc.ts';
