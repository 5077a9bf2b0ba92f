/** Checks the size and quality a caller asks a render for (RenderImage, AnimSave). */
import * as grpc from '@grpc/grpc-js';
import { MAX_AA_PASSES, MAX_IMAGE_SIDE, type RenderSettings } from './render.ts';
import { StatusError } from './status.ts';

/** EnSight's clients' default image size, used when a request leaves width or height 0. */
export const DEFAULT_IMAGE_SIZE = { width: 640, height: 480 } as const;

export function checkRenderSettings(width: number, height: number, aaPasses: number, highlight: boolean, whiteBackground: boolean): RenderSettings {
  const w = width || DEFAULT_IMAGE_SIZE.width;
  const h = height || DEFAULT_IMAGE_SIZE.height;
  for (const [name, side] of [['width', w], ['height', h]] as const) {
    if (!Number.isInteger(side) || side < 1 || side > MAX_IMAGE_SIDE) {
      throw new StatusError(grpc.status.INVALID_ARGUMENT, `image ${name} must be within 1..${MAX_IMAGE_SIDE}, got ${side}`);
    }
  }
  if (!Number.isInteger(aaPasses) || aaPasses < 0 || aaPasses > MAX_AA_PASSES) {
    throw new StatusError(grpc.status.INVALID_ARGUMENT, `aa passes must be within 0..${MAX_AA_PASSES}, got ${aaPasses}`);
  }
  return { width: w, height: h, aaPasses: Math.max(1, aaPasses), highlight, whiteBackground };
}
