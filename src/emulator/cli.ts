#!/usr/bin/env node
/**
 * `ensight-emulator`: the EnSight emulator as a program. Takes EnSight's launch flags (see
 * `--help`), prints one JSON ready line on stdout, serves until Exit / ExitCleanly, SIGINT or
 * SIGTERM, then exits 0. A bad command line or a failed start exits 2 with the reason on stderr.
 */
import process from 'node:process';
import { EnSightEmulator, readyLine } from './emulator.ts';
import { EmulatorStartError } from './server.ts';
import { EmulatorUsageError, HELP_TEXT, parseEmulatorArgs, type ParsedArgs } from './options.ts';
import { VERSION } from '../version.ts';
import { tuneNodeGcForFrames } from '../client/node-gc.ts';

const USAGE_EXIT = 2;

async function main(): Promise<number> {
  if (process.argv.slice(2).includes('--version')) {
    process.stdout.write(`ensight-emulator ${VERSION}\n`);
    return 0;
  }
  // This program streams frames for as long as it runs: see tuneNodeGcForFrames.
  tuneNodeGcForFrames();
  let parsed: ParsedArgs;
  try {
    parsed = parseEmulatorArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof EmulatorUsageError)) throw err;
    process.stderr.write(`ensight-emulator: ${err.message}\n`);
    return USAGE_EXIT;
  }
  if (parsed.help) {
    process.stdout.write(HELP_TEXT);
    return 0;
  }
  if (parsed.options.noSecurity) {
    process.stderr.write('ensight-emulator: warning: --no-security: calls need no shared_secret; anyone who can connect runs Python as this user\n');
  }
  const emulator = new EnSightEmulator(parsed.options);
  try {
    const address = await emulator.start();
    process.stdout.write(`${readyLine(address)}\n`);
  } catch (err) {
    if (!(err instanceof EmulatorStartError)) throw err;
    process.stderr.write(`ensight-emulator: ${err.message}\n`);
    await emulator.stop();
    return USAGE_EXIT;
  }
  const stop = () => void emulator.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (parsed.exitWithParent) {
    process.stdin.on('data', () => {});
    process.stdin.once('end', stop);
    process.stdin.once('error', stop);
  }
  await emulator.closed;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ensight-emulator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
