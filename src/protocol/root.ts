/**
 * The EnSight protocol, loaded once from the package's own `proto/` files.
 *
 * The `.proto` files are the single source of truth: the client, the emulator and the field-table
 * test all reflect over this one `Root`, so nothing can drift between them. Field names are
 * camelCase (`image_width` → `imageWidth`); the wire bytes are unaffected by that.
 */
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PROTO_FILES = ['ensight.proto', 'dynamic_scene_graph.proto'] as const;

/** `proto/` sits at the package root; walk up from this module (src/ or dist/, any depth). */
export function protoDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, PROTO_FILES[0]))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`ensight-grpc: cannot find proto/${PROTO_FILES[0]} above ${import.meta.url}`);
    dir = parent;
  }
}

function loadRoot(): protobuf.Root {
  const dir = protoDirectory();
  const root = new protobuf.Root();
  root.loadSync(
    PROTO_FILES.map((f) => join(dir, f)),
    { keepCase: false },
  );
  root.resolveAll();
  return root;
}

export const protoRoot: protobuf.Root = loadRoot();

/** The package every EnSight service and message lives in. */
export const PROTO_PACKAGE = 'ensightservice';

export function messageType(name: string): protobuf.Type {
  return protoRoot.lookupType(`${PROTO_PACKAGE}.${name}`);
}

export function serviceType(name: string): protobuf.Service {
  return protoRoot.lookupService(`${PROTO_PACKAGE}.${name}`);
}
