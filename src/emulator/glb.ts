/**
 * GetGeometry's answer: the scene as binary glTF 2.0 (GLB).
 *
 * The container is written by src/gltf/glb.ts. The BIN chunk holds positions,
 * normals, node colours (the variable through the palette) and triangle indices; the node tree
 * is view (the user's rotation) → part (the animation step's matrix), as in the DSG stream.
 */
import { Buffer } from 'node:buffer';
import { BinBuilder, GL, writeGlb } from '../gltf/glb.ts';
import { PART_NAME, SCENE_MESH, partMatrix, type Pose } from './scene.ts';

export function sceneGlb(pose: Pose): Buffer {
  const { positions, normals, colors, triangles, min, max } = SCENE_MESH;
  const nodeCount = positions.length / 3;
  const bin = new BinBuilder();
  const [position, normal, color] = [positions, normals, colors].map((array) => bin.add(array, GL.ARRAY_BUFFER));
  const indices = bin.add(triangles, GL.ELEMENT_ARRAY_BUFFER);
  const gltf = {
    asset: { version: '2.0', generator: 'ensight-grpc emulator' },
    scene: 0,
    scenes: [{ name: 'EnSight', nodes: [0] }],
    nodes: [
      { name: 'view', matrix: Array.from(pose.view), children: [1] },
      { name: PART_NAME, matrix: Array.from(partMatrix(pose.step)), mesh: 0 },
    ],
    meshes: [{ name: PART_NAME, primitives: [{ attributes: { POSITION: 0, NORMAL: 1, COLOR_0: 2 }, indices: 3, material: 0, mode: GL.TRIANGLES }] }],
    materials: [{ name: `${PART_NAME}-material`, pbrMetallicRoughness: { baseColorFactor: [1, 1, 1, 1], metallicFactor: 0, roughnessFactor: 0.6 }, doubleSided: false }],
    accessors: [
      { bufferView: position, componentType: GL.FLOAT, count: nodeCount, type: 'VEC3', min, max },
      { bufferView: normal, componentType: GL.FLOAT, count: nodeCount, type: 'VEC3' },
      { bufferView: color, componentType: GL.FLOAT, count: nodeCount, type: 'VEC3' },
      { bufferView: indices, componentType: GL.UNSIGNED_INT, count: triangles.length, type: 'SCALAR' },
    ],
    bufferViews: bin.views,
    buffers: [{ byteLength: bin.byteLength }],
  };
  const glb = writeGlb(gltf, bin);
  return Buffer.from(glb.buffer, glb.byteOffset, glb.byteLength);
}
