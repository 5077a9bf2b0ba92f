/**
 * The dynamic scene graph assembled: {@link DsgScene} keeps EnSight's scene as typed arrays and
 * {@link sceneToGlb} writes it as binary glTF for web viewers.
 *
 * @module
 */
export { DsgScene, DsgSceneError, type DsgArray, type DsgPartGeometry, type DsgSceneComplete, type DsgSceneOptions } from './dsg-scene.ts';
export { sceneToGlb, variableColors } from './glb-export.ts';
export { GlbError, readGlb } from '../gltf/glb.ts';
