/**
 * `DsgScene`: the dynamic scene graph stream assembled into a scene, the TypeScript counterpart
 * of PyEnSight's `DSGSession`.
 *
 * It applies `SceneUpdateCommand`s one at a time: views, groups, parts, variables and textures
 * are kept by id; chunked `UPDATE_GEOM`s (`chunk_offset`, `total_array_size`, in elements) are
 * joined into one typed array per geometry id; `DELETE_ID` removes ids (and a deleted part's
 * arrays). Each `UPDATE_SCENE_END` completes a scene.
 *
 * - `reset: true` means the scene is exactly what the pass sends: objects the pass does not
 *   mention are dropped at its end. Arrays it re-sends with the `hash` already held are not
 *   stored again: the scene keeps the same typed array (the same object), so a consumer can tell
 *   what changed by identity.
 * - `reset: false` (incremental) keeps everything not deleted or replaced.
 * - A whole array in one message is kept as decoded (a view of the received bytes where
 *   aligned): no copy. Chunks are copied once into an array of `total_array_size` elements.
 * - Sizes are checked before anything is allocated: an array larger than `maxArrayBytes`, a scene
 *   larger than `maxSceneBytes` or a chunk outside its array raises a {@link DsgSceneError} and
 *   leaves the scene as it was before that update.
 *
 * Reading is pulled: `for await (const done of scene)` reads the stream only while the loop asks
 * for the next scene, so between two iterations the scene does not change under the caller, and
 * EnSight is held back by HTTP/2 flow control rather than buffered here.
 */
import { EnSightError } from '../errors.ts';
import type { EnSightGRPC } from '../client/mod.ts';
import {
  ArrayType,
  ClientCommandType,
  SceneUpdateCommandType as U,
  type SceneClientCommand,
  type SceneUpdateCommand,
  type UpdateGeom,
  type UpdateGroup,
  type UpdatePart,
  type UpdateTexture,
  type UpdateVariable,
  type UpdateView,
} from '../protocol/mod.ts';

/** The scene stream or the scene broke a rule; `code` says which (see each throw). */
export class DsgSceneError extends EnSightError {
  override name = 'DsgSceneError';
}

/** `SceneClientInit`, camelCase; plus the assembler's own limits. */
export interface DsgSceneOptions {
  /** EnSight may send a new scene on its own whenever the scene changes. Default true (PyEnSight's default). */
  allowSpontaneous?: boolean;
  /** Ask for every time step's geometry. Default false. */
  includeTemporalGeometry?: boolean;
  /** Later passes send only what changed (`reset: false`). Default false, as PyEnSight. */
  allowIncrementalUpdates?: boolean;
  /** Largest geometry array, in bytes, in one UPDATE_GEOM. Default 1 MiB (PyEnSight's); 0: no limit. */
  maximumChunkSize?: number;
  /** Largest single geometry array accepted, in bytes. Default 2 GiB. */
  maxArrayBytes?: number;
  /** Largest total of all geometry arrays held, in bytes. Default 8 GiB. */
  maxSceneBytes?: number;
  /** Ends the stream. */
  signal?: AbortSignal;
}

/** Element types of the geometry arrays, by `UpdateGeom.ArrayType`. */
const INT_ARRAYS: ReadonlySet<number> = new Set([ArrayType.TRIANGLES, ArrayType.LINES, ArrayType.EDGEFLAGS]);

/** One geometry array, joined from its chunks. */
export interface DsgArray {
  readonly id: number;
  /** The part it belongs to. */
  readonly parentId: number;
  /** `UpdateGeom.ArrayType`. */
  readonly type: number;
  /** For ELEM_VARIABLE / NODE_VARIABLE: the variable. */
  readonly variableId: number;
  readonly hash: string;
  /** All `total_array_size` elements once {@link complete}; Uint32Array for TRIANGLES, LINES, EDGEFLAGS. */
  readonly data: Float32Array | Uint32Array;
  /** Every element has arrived. */
  readonly complete: boolean;
}

interface ArrayState extends DsgArray {
  hash: string;
  data: Float32Array | Uint32Array;
  received: number;
  complete: boolean;
  /** Last pass that mentioned it. */
  pass: number;
}

/** A part's geometry, by role. Normals and variable values are per node or per element (triangle). */
export interface DsgPartGeometry {
  coordinates?: Float32Array;
  triangles?: Uint32Array;
  lines?: Uint32Array;
  normals?: Float32Array;
  normalsPerElement: boolean;
  /** The part's colour variable's values, if the part is coloured by one. */
  variable?: { id: number; values: Float32Array; perElement: boolean };
  textureCoordinates?: Float32Array;
}

/** What one `UPDATE_SCENE_END` completed. */
export interface DsgSceneComplete {
  /** `UpdateSceneEnd.id`. */
  id: number;
  /** The pass replaced the scene (`reset: true`). */
  reset: boolean;
  /** Updates in the pass, begin and end included. */
  updates: number;
  /** Geometry arrays stored in this pass. */
  arraysStored: number;
  /** Arrays re-sent with the hash already held: kept as they were, not stored again. */
  arraysReused: number;
  /** Ids removed (DELETE_ID, and on reset the objects the pass left out). */
  deleted: number[];
  /** Ids of arrays still missing elements at the end of the pass. */
  incomplete: number[];
}

const DEFAULTS = {
  allowSpontaneous: true,
  includeTemporalGeometry: false,
  allowIncrementalUpdates: false,
  maximumChunkSize: 1024 * 1024,
  maxArrayBytes: 2 * 1024 ** 3,
  maxSceneBytes: 8 * 1024 ** 3,
};

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new DsgSceneError(`Expected an integer within ${min}..${max} for ${name} but received ${value}`, 'INVALID_OPTION');
  }
  return value;
}

export class DsgScene implements AsyncIterable<DsgSceneComplete>, AsyncDisposable {
  private readonly viewsById = new Map<number, UpdateView>();
  private readonly groupsById = new Map<number, UpdateGroup>();
  private readonly partsById = new Map<number, UpdatePart>();
  private readonly variablesById = new Map<number, UpdateVariable>();
  private readonly texturesById = new Map<number, UpdateTexture>();
  private readonly arraysById = new Map<number, ArrayState>();
  /** Where each UPDATE_VIEW/GROUP/PART/VARIABLE/TEXTURE is kept, and the update's member that carries it. */
  private readonly kinds = new Map<number, { member: 'updateView' | 'updateGroup' | 'updatePart' | 'updateVariable' | 'updateTexture'; map: Map<number, { id: number }> }>([
    [U.UPDATE_VIEW, { member: 'updateView', map: this.viewsById }],
    [U.UPDATE_GROUP, { member: 'updateGroup', map: this.groupsById }],
    [U.UPDATE_PART, { member: 'updatePart', map: this.partsById }],
    [U.UPDATE_VARIABLE, { member: 'updateVariable', map: this.variablesById }],
    [U.UPDATE_TEXTURE, { member: 'updateTexture', map: this.texturesById }],
  ]);
  /** The last pass that sent each view, group, part, variable and texture. */
  private readonly mentioned = new Map<number, number>();
  private readonly limits: { maxArrayBytes: number; maxSceneBytes: number };
  readonly options: Readonly<Required<Omit<DsgSceneOptions, 'signal'>>>;
  private heldBytes = 0;
  private pass = 0;
  private inScene = false;
  private reset = false;
  private counts = { updates: 0, arraysStored: 0, arraysReused: 0, deleted: [] as number[] };
  private source: AsyncIterable<SceneUpdateCommand> | undefined;
  private wantUpdate: (() => void) | undefined;
  private updateRequested = false;
  private closed = false;

  /** An assembler to {@link apply} updates to; {@link DsgScene.open} also opens the stream. */
  constructor(options: DsgSceneOptions = {}) {
    const merged = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    checkOption('maximumChunkSize', merged.maximumChunkSize, 0, 2 ** 31 - 1);
    checkOption('maxArrayBytes', merged.maxArrayBytes, 4, Number.MAX_SAFE_INTEGER);
    checkOption('maxSceneBytes', merged.maxSceneBytes, 4, Number.MAX_SAFE_INTEGER);
    this.options = Object.freeze({
      allowSpontaneous: !!merged.allowSpontaneous,
      includeTemporalGeometry: !!merged.includeTemporalGeometry,
      allowIncrementalUpdates: !!merged.allowIncrementalUpdates,
      maximumChunkSize: merged.maximumChunkSize,
      maxArrayBytes: merged.maxArrayBytes,
      maxSceneBytes: merged.maxSceneBytes,
    });
    this.limits = { maxArrayBytes: merged.maxArrayBytes, maxSceneBytes: merged.maxSceneBytes };
  }

  /**
   * Open EnSight's scene stream on `client` (INIT with these options) and assemble it. Iterate
   * the returned scene to receive each completed scene; {@link requestUpdate} asks for another.
   */
  static open(client: EnSightGRPC, options: DsgSceneOptions = {}): DsgScene {
    const scene = new DsgScene(options);
    scene.source = client.dynamicSceneGraphStream(scene.commands(), { signal: options.signal });
    return scene;
  }

  /** The SceneClientInit this scene asks for. */
  get init(): SceneClientCommand {
    const o = this.options;
    return {
      commandType: ClientCommandType.INIT,
      init: {
        allowSpontaneous: o.allowSpontaneous,
        includeTemporalGeometry: o.includeTemporalGeometry,
        allowIncrementalUpdates: o.allowIncrementalUpdates,
        maximumChunkSize: o.maximumChunkSize,
      },
    };
  }

  /** Ask EnSight for another pass (an UPDATE command); requests not yet sent merge into one. */
  requestUpdate(): void {
    this.updateRequested = true;
    const wake = this.wantUpdate;
    this.wantUpdate = undefined;
    wake?.();
  }

  private async *commands(): AsyncGenerator<SceneClientCommand> {
    yield this.init;
    while (!this.closed) {
      if (!this.updateRequested) await new Promise<void>((resolve) => (this.wantUpdate = resolve));
      if (this.closed) return;
      this.updateRequested = false;
      yield { commandType: ClientCommandType.UPDATE, update: {} };
    }
  }

  /** Each completed scene, as the stream delivers them; the stream is read only while iterating. */
  async *[Symbol.asyncIterator](): AsyncIterator<DsgSceneComplete> {
    if (!this.source) throw new DsgSceneError('this scene has no stream: use DsgScene.open, or feed it with apply()', 'NO_STREAM');
    try {
      for await (const update of this.source) {
        const complete = this.apply(update);
        if (complete) yield complete;
      }
    } finally {
      this.close();
    }
  }

  /** Stop asking for updates; a running iteration ends its stream when it returns. */
  close(): void {
    this.closed = true;
    this.requestUpdate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // ---- the scene ------------------------------------------------------------------------------------

  get views(): ReadonlyMap<number, UpdateView> {
    return this.viewsById;
  }
  get groups(): ReadonlyMap<number, UpdateGroup> {
    return this.groupsById;
  }
  get parts(): ReadonlyMap<number, UpdatePart> {
    return this.partsById;
  }
  get variables(): ReadonlyMap<number, UpdateVariable> {
    return this.variablesById;
  }
  get textures(): ReadonlyMap<number, UpdateTexture> {
    return this.texturesById;
  }
  get arrays(): ReadonlyMap<number, DsgArray> {
    return this.arraysById;
  }
  /** Bytes of geometry arrays held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The arrays of part `partId`, by role. */
  partGeometry(partId: number): DsgPartGeometry {
    const part = this.partsById.get(partId);
    const geometry: DsgPartGeometry = { normalsPerElement: false };
    for (const array of this.arraysById.values()) {
      if (array.parentId !== partId || !array.complete) continue;
      switch (array.type) {
        case ArrayType.COORDINATES: geometry.coordinates = array.data as Float32Array; break;
        case ArrayType.TRIANGLES: geometry.triangles = array.data as Uint32Array; break;
        case ArrayType.LINES: geometry.lines = array.data as Uint32Array; break;
        case ArrayType.NODE_NORMALS:
        case ArrayType.ELEM_NORMALS:
          geometry.normals = array.data as Float32Array;
          geometry.normalsPerElement = array.type === ArrayType.ELEM_NORMALS;
          break;
        case ArrayType.NODE_VARIABLE:
        case ArrayType.ELEM_VARIABLE:
          if (part && array.variableId === part.colorVariableid) {
            geometry.variable = { id: array.variableId, values: array.data as Float32Array, perElement: array.type === ArrayType.ELEM_VARIABLE };
          }
          break;
        case ArrayType.TEX_COORDINATES: geometry.textureCoordinates = array.data as Float32Array; break;
      }
    }
    return geometry;
  }

  /** The ids whose `parentId` is `id` (0: the roots), views, groups and parts. */
  children(id: number): number[] {
    const out: number[] = [];
    for (const map of [this.viewsById, this.groupsById, this.partsById] as Map<number, { parentId: number }>[]) {
      for (const [childId, child] of map) if (child.parentId === id && childId !== id) out.push(childId);
    }
    return out;
  }

  /**
   * Apply one update. Returns the summary when it completes a scene (UPDATE_SCENE_END). Throws
   * {@link DsgSceneError} for an update that breaks the stream's rules; the scene is unchanged then.
   */
  apply(update: SceneUpdateCommand): DsgSceneComplete | undefined {
    this.counts.updates++;
    switch (update.commandType) {
      case U.UPDATE_SCENE_BEGIN:
        this.pass++;
        this.inScene = true;
        this.reset = !!update.sceneBegin?.reset;
        this.counts = { updates: 1, arraysStored: 0, arraysReused: 0, deleted: [] };
        return undefined;
      case U.UPDATE_SCENE_END:
        return this.endScene(update.sceneEnd?.id ?? 0);
      case U.DELETE_ID:
        for (const id of update.deleteId?.ids ?? []) this.delete(id);
        return undefined;
      case U.UPDATE_GEOM:
        this.geometry(required(update.updateGeom, 'updateGeom'));
        return undefined;
      default: {
        const kind = this.kinds.get(update.commandType);
        // A command type newer than this client is skipped, as protobuf skips unknown fields.
        if (kind) this.keep(kind.map, required(update[kind.member], kind.member) as { id: number });
        return undefined;
      }
    }
  }

  private keep<T extends { id: number }>(map: Map<number, T>, value: T): void {
    map.set(value.id, value);
    this.mentioned.set(value.id, this.pass);
  }

  private geometry(g: UpdateGeom): void {
    const isInt = INT_ARRAYS.has(g.payloadType);
    const chunk = isInt ? g.intArray : g.fltArray;
    const total = g.totalArraySize;
    const offset = g.chunkOffset;
    const held = this.arraysById.get(g.id);
    // Bounds first: nothing is allocated or changed for a chunk that does not fit.
    if (total * 4 > this.limits.maxArrayBytes) {
      throw new DsgSceneError(`geometry ${g.id}: ${total} elements (${total * 4} bytes) exceed maxArrayBytes ${this.limits.maxArrayBytes}`, 'ARRAY_TOO_LARGE');
    }
    if (offset + chunk.length > total) {
      throw new DsgSceneError(`geometry ${g.id}: a chunk of ${chunk.length} elements at ${offset} overruns total_array_size ${total}`, 'CHUNK_OUT_OF_BOUNDS');
    }
    if (chunk.length === 0 && (isInt ? g.fltArray : g.intArray).length > 0) {
      throw new DsgSceneError(`geometry ${g.id}: array type ${g.payloadType} carries ${isInt ? 'floats' : 'integers'}`, 'ARRAY_TYPE_MISMATCH');
    }
    const sameArray = held && held.hash !== '' && held.hash === g.hash && held.data.length === total && held.type === g.payloadType;
    if (sameArray && (held.complete || held.pass === this.pass)) {
      // The array the scene holds (or is receiving in this pass): keep it, store nothing.
      if (held.pass !== this.pass) this.counts.arraysReused++;
      held.pass = this.pass;
      if (!held.complete) this.fill(held, chunk, offset);
      return;
    }
    let state = held && held.pass === this.pass && !held.complete && held.data.length === total && held.type === g.payloadType ? held : undefined;
    if (!state) {
      const growth = total * 4 - (held?.data.byteLength ?? 0);
      if (this.heldBytes + growth > this.limits.maxSceneBytes) {
        throw new DsgSceneError(`geometry ${g.id}: ${total * 4} bytes would take the scene past maxSceneBytes ${this.limits.maxSceneBytes}`, 'SCENE_TOO_LARGE');
      }
      // A whole array in one message is kept as decoded; chunks go into one new array.
      const whole = offset === 0 && chunk.length === total;
      const data = whole ? chunk : isInt ? new Uint32Array(total) : new Float32Array(total);
      state = { id: g.id, parentId: g.parentId, type: g.payloadType, variableId: g.variableId, hash: g.hash, data, received: 0, complete: total === 0, pass: this.pass };
      this.heldBytes += growth;
      this.arraysById.set(g.id, state);
      this.counts.arraysStored++;
      if (whole) {
        state.received = total;
        state.complete = true;
        return;
      }
    }
    this.fill(state, chunk, offset);
  }

  private fill(state: ArrayState, chunk: Float32Array | Uint32Array, offset: number): void {
    if (chunk.length === 0) return;
    state.data.set(chunk, offset);
    state.received += chunk.length;
    if (state.received >= state.data.length) state.complete = true;
  }

  private delete(id: number): void {
    this.counts.deleted.push(id);
    this.viewsById.delete(id);
    this.groupsById.delete(id);
    this.variablesById.delete(id);
    this.texturesById.delete(id);
    this.mentioned.delete(id);
    this.dropArray(id);
    if (this.partsById.delete(id)) {
      for (const array of [...this.arraysById.values()]) if (array.parentId === id) this.dropArray(array.id);
    }
  }

  private dropArray(id: number): void {
    const array = this.arraysById.get(id);
    if (!array) return;
    this.heldBytes -= array.data.byteLength;
    this.arraysById.delete(id);
  }

  private endScene(id: number): DsgSceneComplete {
    if (this.inScene && this.reset) {
      // The pass was the whole scene: whatever it did not mention is gone.
      for (const map of [this.viewsById, this.groupsById, this.partsById, this.variablesById, this.texturesById] as Map<number, unknown>[]) {
        for (const objectId of map.keys()) {
          if (this.mentioned.get(objectId) === this.pass) continue;
          this.counts.deleted.push(objectId);
          map.delete(objectId);
          this.mentioned.delete(objectId);
        }
      }
      for (const array of [...this.arraysById.values()]) {
        if (array.pass === this.pass) continue;
        this.counts.deleted.push(array.id);
        this.dropArray(array.id);
      }
    }
    const incomplete = [...this.arraysById.values()].filter((a) => !a.complete).map((a) => a.id);
    const done: DsgSceneComplete = { id, reset: this.reset, ...this.counts, incomplete };
    this.inScene = false;
    return done;
  }
}

function required<T>(value: T | undefined, member: string): T {
  if (value === undefined) throw new DsgSceneError(`the update's command type needs ${member}, which it lacks`, 'MISSING_MEMBER');
  return value;
}
