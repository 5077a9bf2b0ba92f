/**
 * TypeScript shapes of EnSight's messages, camelCase as protobufjs decodes them.
 *
 * Enum values are plain numbers on the wire; the constants below name them. Every constant is
 * checked against the `.proto` files by test/proto/fields.test.ts.
 */

export const CmdType = { EXEC_NO_RESULT: 0, EXEC_RETURN_PYTHON: 1, EXEC_RETURN_JSON: 2 } as const;
export const RenderType = { IMAGE_PNG: 0, IMAGE_RAW: 1 } as const;
export const GeometryType = { GEOMETRY_GLB: 0 } as const;
export const ImageChannelType = { GRPC: 0, SHARED_MEM: 1 } as const;
export const EventChannelType = { GRPC: 0 } as const;
export const CompressionType = { NONE: 0 } as const;
export const AnimStatus = { IN_PROGRESS: 0, COMPLETE: 1, CANCEL_REQUESTED: 2, CANCELLED: 3, WRITE_ERROR: 4 } as const;
export const ClientCommandType = { INIT: 0, UPDATE: 1 } as const;
export const SceneUpdateCommandType = {
  UPDATE_SCENE_BEGIN: 0,
  UPDATE_SCENE_END: 1,
  DELETE_ID: 2,
  UPDATE_PART: 3,
  UPDATE_GROUP: 4,
  UPDATE_GEOM: 5,
  UPDATE_VARIABLE: 6,
  UPDATE_VIEW: 7,
  UPDATE_TEXTURE: 8,
} as const;
export const ArrayType = {
  COORDINATES: 0,
  TRIANGLES: 1,
  LINES: 2,
  EDGEFLAGS: 3,
  ELEM_VARIABLE: 4,
  NODE_VARIABLE: 5,
  ELEM_NORMALS: 6,
  NODE_NORMALS: 7,
  TEX_COORDINATES: 8,
} as const;
/** `VersionReply.VersionEnumType.CURRENT_VERSION`. */
export const DSG_API_VERSION = 101;

type ValueOf<T> = T[keyof T];

export interface GenericResponse {
  str: string;
}
export interface Prefix {
  prefix: string;
}
export interface PythonRequest {
  type: ValueOf<typeof CmdType>;
  command: string;
}
export interface PythonReply {
  value: string;
  error: number;
}
export interface RenderRequest {
  type: ValueOf<typeof RenderType>;
  imageWidth: number;
  imageHeight: number;
  imageAaPasses: number;
  includeHighlighting: boolean;
}
export interface RenderReply {
  value: Uint8Array;
}
export interface GeometryRequest {
  type: ValueOf<typeof GeometryType>;
}
export interface GeometryReply {
  value: Uint8Array;
}
export type ExitRequest = Record<string, never>;
export type ExitReply = Record<string, never>;
export type Empty = Record<string, never>;
export interface ImageStreamRequest {
  flipVertical: boolean;
  chunk: boolean;
}
export interface ImageReply {
  width: number;
  height: number;
  compression: ValueOf<typeof CompressionType>;
  pixels: Uint8Array;
  final: boolean;
}
export interface EventStreamRequest {
  prefix: string;
}
export interface EventReply {
  tag: string;
}
export interface SubscribeEventOptions {
  prefix: string;
  type: ValueOf<typeof EventChannelType>;
  options: Record<string, string>;
}
export interface SubscribeImageOptions {
  prefix: string;
  type: ValueOf<typeof ImageChannelType>;
  flipVertical: boolean;
  chunk: boolean;
  options: Record<string, string>;
}
export interface AnimSaveRequest {
  id: string;
  filename: string;
  formatOptions: Record<string, string>;
  width: number;
  height: number;
  aaPasses: number;
  whiteBackground: boolean;
  startFrame: number;
  numFrames: number;
  fps: number;
}
export type AnimSaveReply = Record<string, never>;
export interface AnimQueryProgressRequest {
  id: string;
  cancel: boolean;
}
export interface AnimQueryProgressReply {
  id: string;
  numFramesFinished: number;
  numFrames: number;
  status: ValueOf<typeof AnimStatus>;
  errorMsg: string;
}

// ---- dynamic_scene_graph.proto -------------------------------------------------------------

export interface VersionReply {
  version: number;
}
export interface SceneClientInit {
  allowSpontaneous?: boolean;
  allowIncrementalUpdates?: boolean;
  maximumChunkSize?: number;
  includeTemporalGeometry?: boolean;
}
export interface SceneClientCommand {
  commandType: ValueOf<typeof ClientCommandType>;
  init?: SceneClientInit;
  update?: Record<string, never>;
}
export interface UpdateSceneBegin {
  reset: boolean;
  id: number;
}
export interface UpdateSceneEnd {
  id: number;
}
export interface DeleteID {
  ids: number[];
}
export interface UpdateView {
  id: number;
  parentId: number;
  timeline: number[];
  lookat: number[];
  lookfrom: number[];
  upvector: number[];
  fieldofview: number;
  aspectratio: number;
  nearfar: number[];
  hash: string;
}
export interface UpdatePart {
  id: number;
  parentId: number;
  name: string;
  matrix4x4: number[];
  fillColor: number[];
  lineColor: number[];
  render: number;
  shading: number;
  ambient: number;
  diffuse: number;
  specularShine: number;
  specularIntensity: number;
  materialName: string;
  nodeSizeDefault: number;
  colorVariableid: number;
  alphaVariableid: number;
  nodeSizeVariableid: number;
  displacementVariableid: number;
  textureId: number;
  textureWrapMode: number;
  textureApplyMode: number;
  textureSampleMode: number;
  hash: string;
}
export interface UpdateGroup {
  id: number;
  parentId: number;
  name: string;
  matrix4x4: number[];
  attributes: Record<string, string>;
  hash: string;
}
export interface UpdateGeom {
  id: number;
  parentId: number;
  payloadType: ValueOf<typeof ArrayType>;
  variableId: number;
  /** Packed floats: a view of the received message where aligned (little-endian hosts). */
  fltArray: Float32Array;
  /** Packed uint32s, decoded straight into a typed array. */
  intArray: Uint32Array;
  chunkOffset: number;
  totalArraySize: number;
  hash: string;
}
export interface VariableLevel {
  value: number;
  red: number;
  green: number;
  blue: number;
  alpha: number;
}
export interface UpdateVariable {
  id: number;
  parentId: number;
  name: string;
  location: number;
  dimension: number;
  undefinedValue: number;
  palInterp: number;
  levels: VariableLevel[];
  subLevels: number;
  undefinedDisplay: number;
  undefinedColor: number[];
  /** The palette as RGBA8 texels (`length / 4` of them), a view of the received message. */
  texture: Uint8Array;
  attributes: Record<string, string>;
  hash: string;
}
export interface UpdateTexture {
  id: number;
  parentId: number;
  format: number;
  width: number;
  height: number;
  texels: Uint8Array;
  hash: string;
}
/** One DSG update; exactly one of the optional members is set, named by `updateCommand`. */
export interface SceneUpdateCommand {
  commandType: ValueOf<typeof SceneUpdateCommandType>;
  updateCommand?:
    | 'sceneBegin'
    | 'sceneEnd'
    | 'deleteId'
    | 'updatePart'
    | 'updateGroup'
    | 'updateGeom'
    | 'updateVariable'
    | 'updateView'
    | 'updateTexture';
  sceneBegin?: UpdateSceneBegin;
  sceneEnd?: UpdateSceneEnd;
  deleteId?: DeleteID;
  updatePart?: UpdatePart;
  updateGroup?: UpdateGroup;
  updateGeom?: UpdateGeom;
  updateVariable?: UpdateVariable;
  updateView?: UpdateView;
  updateTexture?: UpdateTexture;
}
