/**
 * grpc-js service definitions built by reflection over the `.proto` files, for both sides:
 * the client stubs and the servers (emulator, the client's reverse subscription server).
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import type protobuf from 'protobufjs';
import { PROTO_PACKAGE, serviceType } from './root.ts';
import { decodeSceneUpdate, encodeSceneUpdate } from './dsg-wire.ts';
import type { SceneUpdateCommand } from './messages.ts';

/** protobufjs writes Buffers in Node, Bun and Deno; wrap a bare Uint8Array without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encoderFor(type: protobuf.Type): (value: object) => Buffer {
  return (value) => asBuffer(type.encode(value as protobuf.Message).finish());
}

export function decoderFor<T>(type: protobuf.Type): (bytes: Buffer) => T {
  return (bytes) => type.decode(bytes) as unknown as T;
}

/** grpc-js definition of one service: EnSight's by default, or `service` of package `packageName` from another root. */
export function serviceDefinition(
  serviceName: string,
  service: protobuf.Service = serviceType(serviceName),
  packageName: string = PROTO_PACKAGE,
): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = resolved(method.resolvedRequestType, method.requestType);
    const response = resolved(method.resolvedResponseType, method.responseType);
    definition[method.name] = {
      path: `/${packageName}.${serviceName}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: encoderFor(request),
      requestDeserialize: decoderFor(request),
      responseSerialize: encoderFor(response),
      responseDeserialize: decoderFor(response),
      originalName: method.name,
    };
  }
  return definition as grpc.ServiceDefinition;
}

function resolved(type: protobuf.Type | null, name: string): protobuf.Type {
  // The root was resolveAll()'d at load, so every method's types are bound.
  if (!type) throw new Error(`ensight-grpc: unresolved message type ${name}`);
  return type;
}

export const EnSightServiceDefinition: grpc.ServiceDefinition = serviceDefinition('EnSightService');
export const EnSightSubscriptionDefinition: grpc.ServiceDefinition = serviceDefinition('EnSightSubscription');
/**
 * The DSG service with its scene stream on the hand-written codec (dsg-wire.ts): updates decode
 * to typed arrays on both sides, and the emulator encodes geometry without per-element calls.
 */
export const DynamicSceneGraphServiceDefinition: grpc.ServiceDefinition = withSceneCodec(serviceDefinition('DynamicSceneGraphService'));

function withSceneCodec(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const stream = definition['GetSceneStream'] as grpc.MethodDefinition<object, object>;
  return {
    ...definition,
    GetSceneStream: {
      ...stream,
      responseSerialize: (update: object) => asBuffer(encodeSceneUpdate(update as SceneUpdateCommand)),
      responseDeserialize: (bytes: Buffer) => decodeSceneUpdate(bytes),
    },
  };
}

/**
 * The scene stream with its replies left as wire bytes, for a caller that decodes each one with
 * {@link decodeSceneUpdate} itself: a message that does not decode is then a typed
 * {@link DsgWireError} of that caller's iteration, not a deserializer failure inside grpc-js.
 */
export const SceneStreamWireDefinition: grpc.ServiceDefinition = {
  GetSceneStream: {
    ...(DynamicSceneGraphServiceDefinition['GetSceneStream'] as grpc.MethodDefinition<object, object>),
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

/**
 * Both message-size limits lifted (-1: unlimited), as EnSight's own clients do: gRPC's default
 * 4 MiB receive limit refuses a single 1080p RGB frame.
 */
export const UNLIMITED_MESSAGES = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
} as const;
