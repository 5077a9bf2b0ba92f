/**
 * EnSight's wire protocol: the loaded `.proto` root, grpc-js service definitions for every
 * service, and the TypeScript shapes of the messages.
 *
 * @module
 */
export * from './messages.ts';
export {
  AUTHENTICATE_PATH,
  AUTH_PACKAGE,
  AUTH_PROTO_FILE,
  AuthServiceDefinition,
  authRoot,
  type AuthenticateRequest,
  type AuthenticateResponse,
} from './auth.ts';
export { DsgWireError, LITTLE_ENDIAN_HOST, decodeSceneUpdate, encodeSceneUpdate } from './dsg-wire.ts';
export { PROTO_FILES, PROTO_PACKAGE, messageType, protoDirectory, protoRoot, serviceType } from './root.ts';
export {
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  EnSightSubscriptionDefinition,
  SceneStreamWireDefinition,
  UNLIMITED_MESSAGES,
  asBuffer,
  decoderFor,
  encoderFor,
  serviceDefinition,
} from './services.ts';
export { DEFAULT_UDS_PATHNAME } from './transport.ts';
