/**
 * One clock for both ends of a latency measurement: CLOCK_MONOTONIC in nanoseconds, the same in
 * every process on the machine. Read through the addon, which calls clock_gettime directly in
 * all three runtimes; without the addon, Node's hrtime (libuv reads the same clock on Linux).
 */
import process from 'node:process';
import { monotonicNowNs } from './mod.ts';

let read: () => bigint = () => {
  try {
    monotonicNowNs();
    read = monotonicNowNs;
  } catch {
    read = () => process.hrtime.bigint();
  }
  return read();
};

export function monotonicNs(): bigint {
  return read();
}
