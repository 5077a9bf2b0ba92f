/**
 * GetGeometry's answer: the scene as binary glTF 2.0 (GLB).
 *
 * Layout: 12-byte header (magic "glTF", version 2, total length), a JSON chunk padded with
 * spaces and a BIN chunk padded with zeros, both to 4 bytes. The BIN chunk holds positions,
 * normals, node colours (the variable through the palette) and triangle indices; the node tree
 * is view (the user's rotation) → part (the animation step's matrix), as in the DSG stream.
 */
import { Buffer } from 'node:buffer';
import { PART_NAME, SCENE_MESH, partMatrix, type Pose } from './scene.ts';

const GLB_MAGIC = 0x46546c67;
const GLB_VERSION = 2;
const CHUNK_JSON = 0x4e4f534a;
const CHUNK_BIN = 0x004e4942;
const FLOAT = 5126;
const UNSIGNED_INT = 5125;
const ARRAY_BUFFER = 34962;
const ELEMENT_ARRAY_BUFFER = 34963;
const TRIANGLES = 4;

function padded(length: number): number {
  return (length + 3) & ~3;
}

export function sceneGlb(pose: Pose): Buffer {
  const { positions, normals, colors, triangles, min, max } = SCENE_MESH;
  const nodeCount = positions.length / 3;
  const arrays = [positions, normals, colors, triangles];
  const views: Array<{ buffer: number; byteOffset: number; byteLength: number; target: number }> = [];
  let offset = 0;
  for (const array of arrays) {
    views.push({ buffer: 0, byteOffset: offset, byteLength: array.byteLength, target: array === triangles ? ELEMENT_ARRAY_BUFFER : ARRAY_BUFFER });
    offset += padded(array.byteLength);
  }
  const binLength = offset;
  const gltf = {
    asset: { version: '2.0', generator: 'ensight-grpc emulator' },
    scene: 0,
    scenes: [{ name: 'EnSight', nodes: [0] }],
    nodes: [
      { name: 'view', matrix: Array.from(pose.view), children: [1] },
      { name: PART_NAME, matrix: Array.from(partMatrix(pose.step)), mesh: 0 },
    ],
    meshes: [{ name: PART_NAME, primitives: [{ attributes: { POSITION: 0, NORMAL: 1, COLOR_0: 2 }, indices: 3, material: 0, mode: TRIANGLES }] }],
    materials: [{ name: `${PART_NAME}-material`, pbrMetallicRoughness: { baseColorFactor: [1, 1, 1, 1], metallicFactor: 0, roughnessFactor: 0.6 }, doubleSided: false }],
    accessors: [
      { bufferView: 0, componentType: FLOAT, count: nodeCount, type: 'VEC3', min, max },
      { bufferView: 1, componentType: FLOAT, count: nodeCount, type: 'VEC3' },
      { bufferView: 2, componentType: FLOAT, count: nodeCount, type: 'VEC3' },
      { bufferView: 3, componentType: UNSIGNED_INT, count: triangles.length, type: 'SCALAR' },
    ],
    bufferViews: views,
    buffers: [{ byteLength: binLength }],
  };
  const json = Buffer.from(JSON.stringify(gltf), 'utf8');
  const jsonLength = padded(json.length);
  const total = 12 + 8 + jsonLength + 8 + binLength;
  const glb = Buffer.alloc(total);
  glb.writeUInt32LE(GLB_MAGIC, 0);
  glb.writeUInt32LE(GLB_VERSION, 4);
  glb.writeUInt32LE(total, 8);
  glb.writeUInt32LE(jsonLength, 12);
  glb.writeUInt32LE(CHUNK_JSON, 16);
  json.copy(glb, 20);
  glb.fill(0x20, 20 + json.length, 20 + jsonLength);
  const binStart = 20 + jsonLength;
  glb.writeUInt32LE(binLength, binStart);
  glb.writeUInt32LE(CHUNK_BIN, binStart + 4);
  arrays.forEach((array, i) => {
    glb.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), binStart + 8 + views[i]!.byteOffset);
  });
  return glb;
}
