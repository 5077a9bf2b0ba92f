/**
 * The unary calls' requests and replies in EnSight's terms: what `command()` asks RunPython for
 * and makes of its answer, the RenderImage and AnimSave requests with EnSight's defaults, and
 * AnimQueryProgress's status by name.
 */
import { EnSightError, EnSightPythonError } from '../errors.ts';
import { AnimStatus, CmdType, RenderType, type AnimQueryProgressReply, type PythonReply } from '../protocol/mod.ts';
import type { AnimProgress, AnimSaveOptions, CommandOptions, RenderOptions } from './options.ts';
import { checkFinite, checkInteger, checkString, INT32, UINT32 } from './arguments.ts';
import { parsePythonLiteral } from './python-literal.ts';

export function pythonRequest(commandString: string, options: CommandOptions): { type: number; command: string } {
  const { doEval = true, json = false } = options;
  const type = !doEval ? CmdType.EXEC_NO_RESULT : json ? CmdType.EXEC_RETURN_JSON : CmdType.EXEC_RETURN_PYTHON;
  return { type, command: commandString };
}

/** The value of a RunPython reply as `command()` returns it; a Python exception throws. */
export function pythonResult<T>(commandString: string, reply: PythonReply, options: CommandOptions): T {
  const { doEval = true, json = false, rawEval = false } = options;
  if (reply.error < 0) throw new EnSightPythonError(commandString, reply.value, reply.error);
  if (!doEval) return undefined as T;
  if (json) {
    try {
      return JSON.parse(reply.value) as T;
    } catch (err) {
      throw new EnSightError(`EnSight returned invalid JSON: ${reply.value.slice(0, 80)}`, 'BAD_JSON', { cause: err });
    }
  }
  return (rawEval ? reply.value : parsePythonLiteral(reply.value)) as T;
}

export function renderRequest(options: RenderOptions): object {
  const { width = 640, height = 480, aa = 1, raw = false, highlighting = false } = options;
  // 0 is EnSight's default; a negative size or pass count has no meaning.
  const range = { min: 0, max: INT32.max };
  checkInteger('render options.width', width, range);
  checkInteger('render options.height', height, range);
  checkInteger('render options.aa', aa, range);
  return {
    type: raw ? RenderType.IMAGE_RAW : RenderType.IMAGE_PNG,
    imageWidth: width,
    imageHeight: height,
    imageAaPasses: aa,
    includeHighlighting: highlighting,
  };
}

export function animSaveRequest(id: string, options: AnimSaveOptions): object {
  checkString('animSave options.filename', options.filename);
  for (const name of ['width', 'height', 'aaPasses'] as const) checkInteger(`animSave options.${name}`, options[name], UINT32);
  for (const name of ['startFrame', 'numFrames'] as const) checkInteger(`animSave options.${name}`, options[name], INT32);
  checkFinite('animSave options.fps', options.fps);
  return {
    id,
    filename: options.filename,
    formatOptions: options.formatOptions ?? {},
    width: options.width ?? 640,
    height: options.height ?? 480,
    aaPasses: options.aaPasses ?? 1,
    whiteBackground: options.whiteBackground ?? false,
    startFrame: options.startFrame ?? 0,
    numFrames: options.numFrames ?? 1,
    fps: options.fps ?? 30,
  };
}

export function animProgress(r: AnimQueryProgressReply): AnimProgress {
  const status = (Object.keys(AnimStatus) as Array<keyof typeof AnimStatus>).find((k) => AnimStatus[k] === r.status);
  return {
    id: r.id,
    numFramesFinished: r.numFramesFinished,
    numFrames: r.numFrames,
    status: status ?? 'IN_PROGRESS',
    errorMsg: r.errorMsg,
  };
}

/** A `bytes` reply field; an absent one is empty. */
export function bytesOf(value: Uint8Array | undefined): Uint8Array {
  return value && value.byteLength !== undefined ? value : new Uint8Array(0);
}
