/**
 * AnimSave / AnimQueryProgress: background movie export.
 *
 * A job renders `num_frames` frames, animation steps `start_frame` … `start_frame + num_frames - 1`,
 * of the view as it was when the job started, at width×height with `aa_passes` and an optional
 * white background. It writes `<filename without extension>_<step, 4 digits>.png` per frame, or,
 * for a filename ending in `.raw`, every frame's packed RGB bytes one after another into that
 * file. It yields to the event loop after every frame, so the emulator keeps serving.
 */
import * as grpc from '@grpc/grpc-js';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorText } from '../errors.ts';
import { AnimStatus, type AnimQueryProgressReply, type AnimSaveRequest } from '../protocol/mod.ts';
import { encodePng, type FrameSource } from './frames.ts';
import type { Pose } from './scene.ts';
import type { RenderSettings } from './render.ts';
import { checkRenderSettings } from './render-request.ts';
import { StatusError } from './status.ts';

type Status = AnimQueryProgressReply['status'];

interface Job {
  readonly id: string;
  readonly numFrames: number;
  finished: number;
  status: Status;
  errorMessage: string;
  cancelRequested: boolean;
  done: Promise<void>;
}

/** `<base>_0007.png` for step 7 of `/out/movie.mp4`. */
export function frameFileName(filename: string, step: number): string {
  const base = filename.slice(0, filename.length - extname(filename).length);
  return `${base}_${String(step).padStart(4, '0')}.png`;
}

export class AnimSaveJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly frames: FrameSource,
    private readonly pose: () => Pose,
  ) {}

  start(request: AnimSaveRequest): void {
    if (!request.id) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'AnimSave needs an id');
    if (!request.filename) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'AnimSave needs a filename');
    if (!(request.numFrames > 0)) throw new StatusError(grpc.status.INVALID_ARGUMENT, `num_frames must be positive, got ${request.numFrames}`);
    const running = this.jobs.get(request.id);
    if (running && (running.status === AnimStatus.IN_PROGRESS || running.status === AnimStatus.CANCEL_REQUESTED)) {
      throw new StatusError(grpc.status.ALREADY_EXISTS, `AnimSave job "${request.id}" is still running`);
    }
    const settings = checkRenderSettings(request.width, request.height, request.aaPasses, false, request.whiteBackground);
    const job: Job = {
      id: request.id,
      numFrames: request.numFrames,
      finished: 0,
      status: AnimStatus.IN_PROGRESS,
      errorMessage: '',
      cancelRequested: false,
      done: Promise.resolve(),
    };
    job.done = this.run(job, request, settings, this.pose());
    this.jobs.set(request.id, job);
  }

  query(id: string, cancel: boolean): AnimQueryProgressReply {
    const job = this.jobs.get(id);
    if (!job) throw new StatusError(grpc.status.NOT_FOUND, `no AnimSave job "${id}"`);
    if (cancel && job.status === AnimStatus.IN_PROGRESS) {
      job.cancelRequested = true;
      job.status = AnimStatus.CANCEL_REQUESTED;
    }
    return { id, numFramesFinished: job.finished, numFrames: job.numFrames, status: job.status, errorMsg: job.errorMessage };
  }

  /** Waits for every job to end (`cancel`: asks them to stop first). */
  async settle(cancel: boolean): Promise<void> {
    for (const job of this.jobs.values()) {
      if (cancel && job.status === AnimStatus.IN_PROGRESS) {
        job.cancelRequested = true;
        job.status = AnimStatus.CANCEL_REQUESTED;
      }
    }
    await Promise.all([...this.jobs.values()].map((job) => job.done));
  }

  private async run(job: Job, request: AnimSaveRequest, settings: RenderSettings, view: Pose): Promise<void> {
    const raw = extname(request.filename).toLowerCase() === '.raw';
    let rawFile: FileHandle | undefined;
    try {
      if (raw) rawFile = await open(request.filename, 'w');
      for (let i = 0; i < request.numFrames; i++) {
        await nextTurn();
        if (job.cancelRequested) {
          job.status = AnimStatus.CANCELLED;
          return;
        }
        const step = request.startFrame + i;
        const pixels = this.frames.picture({ ...view, step }, settings);
        if (rawFile) await rawFile.write(pixels);
        else await writeFile(frameFileName(request.filename, step), encodePng(pixels, settings.width, settings.height));
        job.finished++;
      }
      job.status = AnimStatus.COMPLETE;
    } catch (err) {
      job.status = AnimStatus.WRITE_ERROR;
      job.errorMessage = `cannot write ${request.filename}: ${errorText(err)}`;
    } finally {
      await rawFile?.close().catch(() => {});
    }
  }
}
