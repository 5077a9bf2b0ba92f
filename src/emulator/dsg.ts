/**
 * The dynamic scene graph (DSG) stream: the scene as EnSight sends it to PyEnSight.
 *
 * Each update is a whole scene (incremental updates are not offered):
 *
 * ```
 * UPDATE_SCENE_BEGIN {reset: true, id}
 * UPDATE_VIEW        id 1                     camera; the view's own matrix is the group's
 * UPDATE_VARIABLE    id 2, parent 1           "temperature", nodal scalar, rainbow palette
 * UPDATE_GROUP       id 3, parent 1           the user's view rotation as matrix4x4
 * UPDATE_PART        id 4, parent 3           "torus", the animation step's matrix, coloured by variable 2
 * UPDATE_GEOM        id 5..8, parent 4        COORDINATES, TRIANGLES, NODE_NORMALS, NODE_VARIABLE (variable 2)
 * UPDATE_SCENE_END   {id}
 * ```
 *
 * The variable comes before the part that refers to it, as in EnSight. Geometry arrays longer
 * than `maximum_chunk_size` bytes (4 bytes an element) are split into several UPDATE_GEOM
 * messages with the same id; `chunk_offset` and `total_array_size` count elements, and each
 * chunk holds whole triples. `maximum_chunk_size` 0 sends every array whole.
 */
import { createHash } from 'node:crypto';
import type { SceneUpdateCommand, UpdateGeom } from '../protocol/mod.ts';
import { ArrayType, SceneUpdateCommandType } from '../protocol/mod.ts';
import { CAMERA, PALETTE, PART_NAME, SCENE_MESH, VARIABLE_NAME, partMatrix, type Pose } from './scene.ts';

export const DSG_IDS = { view: 1, variable: 2, group: 3, part: 4, coordinates: 5, triangles: 6, normals: 7, variableValues: 8 } as const;

const BYTES_PER_ELEMENT = 4;
const NODAL = 0;
const SCALAR = 0;
const CONTINUOUS = 0;
const AS_ZERO = 0;
const CONNECTIVITY = 1;
const NODAL_SHADING = 1;

function contentHash(array: Float32Array | Uint32Array): string {
  return createHash('sha1').update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)).digest('hex');
}

const GEOMETRY: ReadonlyArray<{ id: number; type: UpdateGeom['payloadType']; array: Float32Array | Uint32Array; variableId: number; hash: string }> = [
  { id: DSG_IDS.coordinates, type: ArrayType.COORDINATES, array: SCENE_MESH.positions, variableId: 0 },
  { id: DSG_IDS.triangles, type: ArrayType.TRIANGLES, array: SCENE_MESH.triangles, variableId: 0 },
  { id: DSG_IDS.normals, type: ArrayType.NODE_NORMALS, array: SCENE_MESH.normals, variableId: 0 },
  { id: DSG_IDS.variableValues, type: ArrayType.NODE_VARIABLE, array: SCENE_MESH.scalars, variableId: DSG_IDS.variable },
].map((g) => ({ ...g, hash: contentHash(g.array) }));

/** Elements per UPDATE_GEOM for a client's `maximum_chunk_size` (bytes; 0 or less: unlimited). */
export function elementsPerChunk(maximumChunkSize: number): number {
  if (maximumChunkSize <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(3, Math.floor(maximumChunkSize / BYTES_PER_ELEMENT / 3) * 3);
}

function geometryUpdates(maximumChunkSize: number): SceneUpdateCommand[] {
  const perChunk = elementsPerChunk(maximumChunkSize);
  const updates: SceneUpdateCommand[] = [];
  for (const geom of GEOMETRY) {
    const total = geom.array.length;
    for (let offset = 0; offset < total; offset += perChunk) {
      const slice = Array.from(geom.array.subarray(offset, Math.min(total, offset + perChunk)));
      const isFloat = geom.array instanceof Float32Array;
      updates.push({
        commandType: SceneUpdateCommandType.UPDATE_GEOM,
        updateGeom: {
          id: geom.id,
          parentId: DSG_IDS.part,
          payloadType: geom.type,
          variableId: geom.variableId,
          fltArray: isFloat ? slice : [],
          intArray: isFloat ? [] : slice,
          chunkOffset: offset,
          totalArraySize: total,
          hash: geom.hash,
        },
      });
    }
  }
  return updates;
}

/** One complete scene update, numbered `sceneId`. */
export function sceneUpdates(pose: Pose, sceneId: number, maximumChunkSize: number): SceneUpdateCommand[] {
  const [r, g, b] = [0.8, 0.8, 0.8];
  return [
    { commandType: SceneUpdateCommandType.UPDATE_SCENE_BEGIN, sceneBegin: { reset: true, id: sceneId } },
    {
      commandType: SceneUpdateCommandType.UPDATE_VIEW,
      updateView: {
        id: DSG_IDS.view,
        parentId: 0,
        timeline: [0, 0],
        lookat: [...CAMERA.lookat],
        lookfrom: [...CAMERA.lookfrom],
        upvector: [...CAMERA.upvector],
        fieldofview: CAMERA.fieldOfView,
        aspectratio: 4 / 3,
        nearfar: [CAMERA.near, CAMERA.far],
        hash: '',
      },
    },
    {
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
        texture: new Uint8Array(0),
        attributes: {},
        hash: '',
      },
    },
    {
      commandType: SceneUpdateCommandType.UPDATE_GROUP,
      updateGroup: { id: DSG_IDS.group, parentId: DSG_IDS.view, name: 'view', matrix4x4: Array.from(pose.view), attributes: { ENS_OBJ_TYPE: 'ENS_CASE' }, hash: '' },
    },
    {
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
    },
    ...geometryUpdates(maximumChunkSize),
    { commandType: SceneUpdateCommandType.UPDATE_SCENE_END, sceneEnd: { id: sceneId } },
  ];
}
