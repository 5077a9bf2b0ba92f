// Every service, method, message, field (name, number, type, label) and enum value of our .proto
// files against EnSight's published protocol, both ways; and the TypeScript enum constants
// against the .proto files.
import protobuf from 'protobufjs';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { ENUMS, MESSAGES, SERVICES } from '../fixtures/ensight-wire-table.ts';
import * as protocol from '../../src/protocol/mod.ts';

// An independent load with the original snake_case names, as they are on the wire.
const root = new protobuf.Root();
root.loadSync(
  protocol.PROTO_FILES.map((f) => join(protocol.protoDirectory(), f)),
  { keepCase: true },
);
root.resolveAll();
const pkg = root.lookup('ensightservice') as protobuf.Namespace;

function typeName(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) return `map<${field.keyType},${field.type}>`;
  return field.resolvedType ? field.resolvedType.name : field.type;
}

function label(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) return 'map';
  if (field.partOf) return `oneof:${field.partOf.name}`;
  if (field.repeated) return field.packed && MESSAGES_PACKED.has(`${field.parent?.name}.${field.name}`) ? 'repeated packed' : 'repeated';
  return 'optional';
}

const MESSAGES_PACKED = new Set(
  Object.entries(MESSAGES).flatMap(([m, fields]) =>
    fields.filter(([, , , l]) => l === 'repeated packed').map(([, name]) => `${m}.${name}`),
  ),
);

function allOf<T>(ns: protobuf.NamespaceBase, kind: new (...a: never[]) => T): T[] {
  return ns.nestedArray.filter((n): n is T & protobuf.ReflectionObject => n instanceof kind);
}

t.test('package and files', async (t) => {
  t.ok(pkg instanceof protobuf.Namespace, 'package ensightservice exists');
  t.strictSame(
    root.nestedArray.map((n) => n.name).filter((n) => n !== 'google').sort(),
    ['ensightservice'],
    'no other top-level package',
  );
  t.strictSame(pkg.options ?? {}, {}, 'no options on the package');
});

t.test('messages: every published field, and nothing else', async (t) => {
  const ours = allOf(pkg, protobuf.Type);
  t.strictSame(ours.map((m) => m.name).sort(), Object.keys(MESSAGES).sort(), 'same set of messages');
  for (const [name, fields] of Object.entries(MESSAGES)) {
    const type = pkg.lookupType(name);
    const found = type.fieldsArray.map((f) => [f.id, f.name, typeName(f), label(f)]).sort((a, b) => (a[0] as number) - (b[0] as number));
    t.strictSame(found, fields, `${name}: fields (number, name, type, label)`);
  }
});

t.test('packed arrays are packed on the wire', async (t) => {
  for (const key of MESSAGES_PACKED) {
    const [m, f] = key.split('.') as [string, string];
    t.equal(pkg.lookupType(m).fields[f]?.packed, true, `${key} packed`);
  }
});

t.test('enums: names and numbers', async (t) => {
  const published = new Set(ENUMS.map(([m, e]) => `${m}.${e}`));
  const ours = Object.values(MESSAGES).length && allOf(pkg, protobuf.Type).flatMap((m) => allOf(m, protobuf.Enum).map((e) => `${m.name}.${e.name}`));
  t.strictSame([...(ours as string[])].sort(), [...published].sort(), 'same set of enums');
  for (const [m, e, values] of ENUMS) {
    const en = pkg.lookupType(m).nested?.[e] as protobuf.Enum;
    t.strictSame(Object.entries(en.values), values, `${m}.${e}`);
  }
});

t.test('services: methods, request and response types, streaming', async (t) => {
  const ours = allOf(pkg, protobuf.Service);
  t.strictSame(ours.map((s) => s.name).sort(), Object.keys(SERVICES).sort(), 'same set of services');
  for (const [name, methods] of Object.entries(SERVICES)) {
    const service = pkg.lookupService(name);
    const found = service.methodsArray.map((m) => [
      m.name,
      `${m.requestStream ? 'stream ' : ''}${m.requestType}`,
      `${m.responseStream ? 'stream ' : ''}${m.responseType}`,
    ]);
    t.strictSame(found, methods, `${name}: methods in order`);
  }
});

t.test('grpc-js method paths', async (t) => {
  t.equal(protocol.EnSightServiceDefinition.RunPython?.path, '/ensightservice.EnSightService/RunPython');
  t.equal(protocol.EnSightSubscriptionDefinition.PublishImage?.path, '/ensightservice.EnSightSubscription/PublishImage');
  t.equal(protocol.EnSightSubscriptionDefinition.PublishImage?.requestStream, true);
  t.equal(protocol.DynamicSceneGraphServiceDefinition.GetSceneStream?.path, '/ensightservice.DynamicSceneGraphService/GetSceneStream');
  t.equal(protocol.EnSightServiceDefinition.ExitCleanly?.path, '/ensightservice.EnSightService/ExitCleanly');
});

t.test('TypeScript enum constants match the .proto files', async (t) => {
  const constants: Array<[Record<string, number>, string, string]> = [
    [protocol.CmdType, 'PythonRequest', 'CmdType'],
    [protocol.RenderType, 'RenderRequest', 'RenderType'],
    [protocol.GeometryType, 'GeometryRequest', 'GeometryType'],
    [protocol.ImageChannelType, 'SubscribeImageOptions', 'ChannelType'],
    [protocol.EventChannelType, 'SubscribeEventOptions', 'ChannelType'],
    [protocol.CompressionType, 'ImageReply', 'CompressionType'],
    [protocol.AnimStatus, 'AnimQueryProgressReply', 'Status'],
    [protocol.ClientCommandType, 'SceneClientCommand', 'ClientCommandType'],
    [protocol.SceneUpdateCommandType, 'SceneUpdateCommand', 'SceneUpdateCommandType'],
    [protocol.ArrayType, 'UpdateGeom', 'ArrayType'],
  ];
  for (const [constant, m, e] of constants) {
    t.strictSame(Object.entries(constant), Object.entries((pkg.lookupType(m).nested?.[e] as protobuf.Enum).values), `${m}.${e}`);
  }
  t.equal(protocol.DSG_API_VERSION, (pkg.lookupType('VersionReply').nested?.VersionEnumType as protobuf.Enum).values.CURRENT_VERSION);
});

t.test('bytes on the wire: a RenderRequest encodes as EnSight expects', async (t) => {
  // type=IMAGE_RAW(1) field 1, image_width=640 field 2, image_height=480 field 3 (varints).
  const bytes = protocol.EnSightServiceDefinition.RenderImage?.requestSerialize({
    type: 1,
    imageWidth: 640,
    imageHeight: 480,
  });
  t.strictSame([...(bytes ?? [])], [0x08, 0x01, 0x10, 0x80, 0x05, 0x18, 0xe0, 0x03]);
});
