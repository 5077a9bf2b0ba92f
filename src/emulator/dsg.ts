/**
 * The dynamic scene graph (DSG) stream: the scene as EnSight sends it to PyEnSight.
 *
 * A full pass (the first one, and every one without `allow_incremental_updates`):
 *
 * ```
 * UPDATE_SCENE_BEGIN {reset: true, id}
 * UPDATE_VIEW        id 1                     camera; the view's own matrix is the group's
 * UPDATE_VARIABLE    id 2, parent 1           "temperature", nodal scalar, palette levels and texture
 * UPDATE_GROUP       id 3, parent 1           the user's view rotation as matrix4x4
 * UPDATE_PART        id 4, parent 3           "torus", the animation step's matrix, coloured by variable 2
 * UPDATE_GEOM        id 5..8, parent 4        COORDINATES, TRIANGLES, NODE_NORMALS, NODE_VARIABLE (variable 2)
 * UPDATE_SCENE_END   {id}
 * ```
 *
 * The variable comes before the part that refers to it, as in EnSight. Its `texture` is the
 * palette as RGBA8 texels, sampled at texel centres over the levels' value range, which is how
 * PyEnSight's `dsg_server.py` reads it (`1 / (num_texels * 2.0)`). Geometry arrays longer than
 * `maximum_chunk_size` bytes (4 bytes an element) are split into several UPDATE_GEOM messages
 * with the same id; `chunk_offset` and `total_array_size` count elements, and each chunk holds
 * whole triples. `maximum_chunk_size` 0 sends every array whole. Every UPDATE_GEOM carries the
 * SHA-1 of its whole array as `hash`.
 *
 * With `allow_incremental_updates`, later passes begin with `reset: false` and leave out the
 * geometry arrays this stream already sent with the same hash; a part hidden since the last pass
 * is removed with one DELETE_ID (the part and its arrays), and sent whole when shown again.
 * `include_temporal_geometry` is accepted; the emulator's scene has no time-varying geometry.
 *
 * Backpressure: each stream writes one update at a time and waits for grpc-js to drain before
 * the next, and it keeps at most one pass pending. UPDATE commands and scene changes that arrive
 * while a pass is being written or waiting merge into that pending pass (the scene is always
 * sent as it is now), so a client that sends commands and never reads costs a bounded amount of
 * memory, however many it sends.
 */
import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { SceneClientCommand, SceneUpdateCommand, UpdateGeom } from '../protocol/mod.ts';
import { ArrayType, SceneUpdateCommandType } from '../protocol/mod.ts';
import { CAMERA, PALETTE, PART_NAME, SCENE_MESH, VARIABLE_NAME, paletteColor, partMatrix, torusMesh, type Pose, type SceneMesh } from './scene.ts';

export const DSG_IDS = { view: 1, variable: 2, group: 3, part: 4, coordinates: 5, triangles: 6, normals: 7, variableValues: 8 } as const;

/** Texels of the palette texture: a power of two, as EnSight's palette textures are. */
export const PALETTE_TEXELS = 256;

const BYTES_PER_ELEMENT = 4;
const NODAL = 0;
const SCALAR = 0;
const CONTINUOUS = 0;
const AS_ZERO = 0;
const CONNECTIVITY = 1;
const NODAL_SHADING = 1;

/** The largest `--dsg-scene-size`: 64 M triangles (~1.3 GB of arrays). */
export const MAX_DSG_TRIANGLES = 64 * 1024 * 1024;

interface GeometryArray {
  id: number;
  type: UpdateGeom['payloadType'];
  array: Float32Array | Uint32Array;
  variableId: number;
  hash: string;
}

function contentHash(array: Float32Array | Uint32Array): string {
  return createHash('sha1').update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)).digest('hex');
}

/** The palette as RGBA8 texels: texel i shows the value at i / (n - 1) of the levels' range. */
export function paletteTexture(texels = PALETTE_TEXELS): Uint8Array {
  const rgba = new Uint8Array(texels * 4);
  const rgb = new Float32Array(3);
  const low = PALETTE[0]!.value;
  const high = PALETTE[PALETTE.length - 1]!.value;
  for (let i = 0; i < texels; i++) {
    paletteColor(low + ((high - low) * i) / (texels - 1), rgb, 0);
    rgba[i * 4] = Math.round(rgb[0]! * 255);
    rgba[i * 4 + 1] = Math.round(rgb[1]! * 255);
    rgba[i * 4 + 2] = Math.round(rgb[2]! * 255);
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** The DSG's geometry: the emulator's torus, or one of about `triangles` triangles (`--dsg-scene-size`). */
export class DsgGeometry {
  readonly mesh: SceneMesh;
  readonly arrays: readonly GeometryArray[];

  constructor(triangles?: number) {
    this.mesh = triangles === undefined ? SCENE_MESH : DsgGeometry.torusOf(triangles);
    const { positions, triangles: indices, normals, scalars } = this.mesh;
    this.arrays = [
      { id: DSG_IDS.coordinates, type: ArrayType.COORDINATES, array: positions, variableId: 0 },
      { id: DSG_IDS.triangles, type: ArrayType.TRIANGLES, array: indices, variableId: 0 },
      { id: DSG_IDS.normals, type: ArrayType.NODE_NORMALS, array: normals, variableId: 0 },
      { id: DSG_IDS.variableValues, type: ArrayType.NODE_VARIABLE, array: scalars, variableId: DSG_IDS.variable },
    ].map((g) => ({ ...g, hash: contentHash(g.array) }));
  }

  private static torusOf(triangles: number): SceneMesh {
    if (!Number.isInteger(triangles) || triangles < 18 || triangles > MAX_DSG_TRIANGLES) {
      throw new RangeError(`DSG scene size must be an integer within 18..${MAX_DSG_TRIANGLES} triangles, got ${triangles}`);
    }
    // Two triangles a quad; about twice as many quads around the ring as around the tube.
    const minor = Math.max(3, Math.round(Math.sqrt(triangles / 4)));
    const major = Math.max(3, Math.round(triangles / 2 / minor));
    return torusMesh(major, minor);
  }
}

/** Elements per UPDATE_GEOM for a client's `maximum_chunk_size` (bytes; 0 or less: unlimited). */
export function elementsPerChunk(maximumChunkSize: number): number {
  if (maximumChunkSize <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(3, Math.floor(maximumChunkSize / BYTES_PER_ELEMENT / 3) * 3);
}

function* geometryUpdates(geom: GeometryArray, maximumChunkSize: number): Generator<SceneUpdateCommand> {
  const perChunk = elementsPerChunk(maximumChunkSize);
  const total = geom.array.length;
  const isFloat = geom.array instanceof Float32Array;
  for (let offset = 0; offset === 0 || offset < total; offset += perChunk) {
    const slice = geom.array.subarray(offset, Math.min(total, offset + perChunk));
    yield {
      commandType: SceneUpdateCommandType.UPDATE_GEOM,
      updateGeom: {
        id: geom.id,
        parentId: DSG_IDS.part,
        payloadType: geom.type,
        variableId: geom.variableId,
        fltArray: isFloat ? (slice as Float32Array) : new Float32Array(0),
        intArray: isFloat ? new Uint32Array(0) : (slice as Uint32Array),
        chunkOffset: offset,
        totalArraySize: total,
        hash: geom.hash,
      },
    };
  }
}

/** What a pass depends on besides the client's options. */
export interface DsgSceneState {
  pose: Pose;
  partVisible: boolean;
}

/** What one stream's client asked for in its INIT. */
interface StreamOptions {
  maximumChunkSize: number;
  incremental: boolean;
}

/** Ids and hashes one stream's client holds; decides what an incremental pass leaves out. */
class ClientView {
  readonly arrays = new Map<number, string>();
  partShown = false;
  /** Nothing sent since INIT: the next pass resets the client's scene. */
  fresh = true;

  forget(): void {
    this.arrays.clear();
    this.partShown = false;
    this.fresh = true;
  }
}

/** The updates of one pass numbered `sceneId`, made one at a time as the stream can take them. */
function* sceneUpdates(
  geometry: DsgGeometry,
  state: DsgSceneState,
  sceneId: number,
  options: StreamOptions,
  client: ClientView,
): Generator<SceneUpdateCommand> {
  const { pose } = state;
  const reset = !options.incremental || client.fresh;
  if (reset) client.forget();
  client.fresh = false;
  yield { commandType: SceneUpdateCommandType.UPDATE_SCENE_BEGIN, sceneBegin: { reset, id: sceneId } };
  yield {
    commandType: SceneUpdateCommandType.UPDATE_VIEW,
    updateView: {
      id: DSG_IDS.view,
      parentId: 0,
      timeline: [pose.step, pose.step],
      lookat: [...CAMERA.lookat],
      lookfrom: [...CAMERA.lookfrom],
      upvector: [...CAMERA.upvector],
      fieldofview: CAMERA.fieldOfView,
      aspectratio: 4 / 3,
      nearfar: [CAMERA.near, CAMERA.far],
      hash: '',
    },
  };
  yield {
    commandType: SceneUpdateCommandType.UPDATE_VARIABLE,
    updateVariable: {
      id: DSG_IDS.variable,
      parentId: DSG_IDS.view,
      name: VARIABLE_NAME,
      location: NODAL,
      dimension: SCALAR,
      undefinedValue: -1e30,
      palInterp: CONTINUOUS,
      levels: PALETTE.map((level) => ({ ...level })),
      subLevels: 0,
      undefinedDisplay: AS_ZERO,
      undefinedColor: [0, 0, 0, 1],
      texture: PALETTE_TEXTURE,
      attributes: {},
      hash: '',
    },
  };
  yield {
    commandType: SceneUpdateCommandType.UPDATE_GROUP,
    updateGroup: { id: DSG_IDS.group, parentId: DSG_IDS.view, name: 'view', matrix4x4: Array.from(pose.view), attributes: { ENS_OBJ_TYPE: 'ENS_CASE' }, hash: '' },
  };
  if (!state.partVisible) {
    if (client.partShown) {
      yield { commandType: SceneUpdateCommandType.DELETE_ID, deleteId: { ids: [DSG_IDS.part, ...geometry.arrays.map((g) => g.id)] } };
    }
    client.partShown = false;
    client.arrays.clear();
  } else {
    const [r, g, b] = [0.8, 0.8, 0.8];
    yield {
      commandType: SceneUpdateCommandType.UPDATE_PART,
      updatePart: {
        id: DSG_IDS.part,
        parentId: DSG_IDS.group,
        name: PART_NAME,
        matrix4x4: Array.from(partMatrix(pose.step)),
        fillColor: [r, g, b, 1],
        lineColor: [0, 0, 0, 1],
        render: CONNECTIVITY,
        shading: NODAL_SHADING,
        ambient: 0.15,
        diffuse: 0.75,
        specularShine: 32,
        specularIntensity: 0.45,
        materialName: '',
        nodeSizeDefault: 1,
        colorVariableid: DSG_IDS.variable,
        alphaVariableid: 0,
        nodeSizeVariableid: 0,
        displacementVariableid: 0,
        textureId: 0,
        textureWrapMode: 0,
        textureApplyMode: 0,
        textureSampleMode: 0,
        hash: '',
      },
    };
    client.partShown = true;
    for (const geom of geometry.arrays) {
      if (options.incremental && client.arrays.get(geom.id) === geom.hash) continue;
      yield* geometryUpdates(geom, options.maximumChunkSize);
      client.arrays.set(geom.id, geom.hash);
    }
  }
  yield { commandType: SceneUpdateCommandType.UPDATE_SCENE_END, sceneEnd: { id: sceneId } };
}

const PALETTE_TEXTURE = paletteTexture();

/** Counters of the DSG streams, for tests and the emulator's stats. */
export interface DsgStats {
  /** Streams open now. */
  streams: number;
  /** SceneClientCommands received on all streams. */
  commands: number;
  /** Passes begun (UPDATE_SCENE_BEGIN written). */
  passes: number;
  /** Requests for a pass (commands, scene changes) merged into one already pending. */
  merged: number;
}

/** Every open DSG stream of one emulator: serves GetSceneStream and pushes scene changes. */
export class DsgStreams {
  private readonly streams = new Set<SceneStream>();
  private geometryCache: DsgGeometry | undefined;
  private sceneId = 0;
  readonly counters = { commands: 0, passes: 0, merged: 0 };

  constructor(
    private readonly state: () => DsgSceneState,
    private readonly sceneSize?: number,
  ) {
    if (sceneSize !== undefined) this.geometryCache = new DsgGeometry(sceneSize);
  }

  get geometry(): DsgGeometry {
    return (this.geometryCache ??= new DsgGeometry());
  }

  stats(): DsgStats {
    return { streams: this.streams.size, ...this.counters };
  }

  /** The GetSceneStream handler. */
  serve(call: grpc.ServerDuplexStream<SceneClientCommand, SceneUpdateCommand>): void {
    const stream = new SceneStream(call, this);
    this.streams.add(stream);
    const detach = () => {
      stream.close();
      this.streams.delete(stream);
    };
    call.on('data', (command: SceneClientCommand) => {
      this.counters.commands++;
      stream.command(command);
    });
    call.on('end', () => {
      detach();
      call.end();
    });
    call.on('cancelled', detach);
    call.on('close', detach);
    call.on('error', detach);
  }

  /** The scene changed: a pass to every stream that allowed spontaneous updates. */
  sceneChanged(): void {
    for (const stream of this.streams) stream.spontaneous();
  }

  endAll(): void {
    for (const stream of this.streams) {
      stream.close();
      stream.call.end();
    }
    this.streams.clear();
  }

  /** @internal */
  nextPass(): { state: DsgSceneState; id: number } {
    this.counters.passes++;
    return { state: this.state(), id: ++this.sceneId };
  }
}

class SceneStream {
  private options: StreamOptions = { maximumChunkSize: 0, incremental: false };
  private initialized = false;
  private allowSpontaneous = false;
  private pending = false;
  private writing = false;
  private closed = false;
  private readonly client = new ClientView();
  private wake: (() => void) | undefined;

  constructor(
    readonly call: grpc.ServerDuplexStream<SceneClientCommand, SceneUpdateCommand>,
    private readonly owner: DsgStreams,
  ) {
    call.on('drain', () => this.resume());
  }

  command(command: SceneClientCommand): void {
    if (command.init) {
      this.options = { maximumChunkSize: command.init.maximumChunkSize ?? 0, incremental: !!command.init.allowIncrementalUpdates };
      this.allowSpontaneous = !!command.init.allowSpontaneous;
      // A new INIT starts the client over: its next pass is a full one.
      this.client.forget();
    }
    this.initialized = true;
    this.request();
  }

  spontaneous(): void {
    if (this.initialized && this.allowSpontaneous) this.request();
  }

  close(): void {
    this.closed = true;
    this.resume();
  }

  private request(): void {
    if (this.closed) return;
    if (this.pending) {
      this.owner.counters.merged++;
      return;
    }
    this.pending = true;
    if (!this.writing) void this.writePasses();
  }

  private resume(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async writePasses(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending && !this.closed) {
        this.pending = false;
        const { state, id } = this.owner.nextPass();
        for (const update of sceneUpdates(this.owner.geometry, state, id, this.options, this.client)) {
          if (this.closed) return;
          if (!this.call.write(update)) await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } catch {
      // The call went away mid-write (cancelled, connection lost): nothing left to send to.
      this.closed = true;
    } finally {
      this.writing = false;
    }
  }
}
