/**
 * Deno's permissions, checked where the client starts something that needs one. Without this a
 * missing `--allow-net` shows up from grpc-js only as a connection that never comes up
 * (`connect()` false after its timeout), and a missing `--allow-write` for a Unix socket as
 * "refused". Here it is an {@link EnSightError} `PERMISSION_DENIED` that names the flag. Outside
 * Deno these checks do nothing.
 */
import { EnSightError } from '../errors.ts';

export type DenoPermission =
  | { name: 'net'; host?: string }
  | { name: 'read' | 'write'; path?: string }
  | { name: 'run'; command?: string }
  | { name: 'env' | 'ffi' | 'sys' };

interface DenoPermissionsApi {
  query(descriptor: DenoPermission): Promise<{ state: 'granted' | 'prompt' | 'denied' }>;
  request(descriptor: DenoPermission): Promise<{ state: 'granted' | 'prompt' | 'denied' }>;
}

function flag(permission: DenoPermission): string {
  const scope = 'host' in permission ? permission.host : 'path' in permission ? permission.path : 'command' in permission ? permission.command : undefined;
  return `--allow-${permission.name}${scope ? `=${scope}` : ''}`;
}

/**
 * Resolves when Deno grants every permission `what` needs (asking, as Deno itself would, when the
 * state is "prompt" and there is a terminal to ask on); otherwise throws `PERMISSION_DENIED`.
 */
export async function requireDenoPermissions(what: string, permissions: readonly DenoPermission[]): Promise<void> {
  const permissionsApi = (globalThis as { Deno?: { permissions?: DenoPermissionsApi } }).Deno?.permissions;
  if (!permissionsApi) return;
  const missing: DenoPermission[] = [];
  for (const permission of permissions) {
    let { state } = await permissionsApi.query(permission);
    if (state === 'prompt') ({ state } = await permissionsApi.request(permission));
    if (state !== 'granted') missing.push(permission);
  }
  if (missing.length === 0) return;
  const flags = missing.map(flag);
  throw new EnSightError(
    `${what} needs Deno's permission${flags.length > 1 ? 's' : ''} ${flags.join(' ')}: run deno with ` +
      `${[...new Set(missing.map((p) => `--allow-${p.name}`))].join(' ')} (the package needs --allow-ffi --allow-read ` +
      '--allow-write --allow-env --allow-net --allow-run --allow-sys)',
    'PERMISSION_DENIED',
  );
}

/** What Deno must allow for a grpc-js target: a Unix socket is read and written, TCP is net. */
export function socketPermissions(address: string): DenoPermission[] {
  if (address.startsWith('unix:')) {
    const path = address.slice('unix:'.length);
    return [{ name: 'read', path }, { name: 'write', path }];
  }
  return [{ name: 'net', host: address }];
}
