/** Test frames whose every byte is a function of (frame number, index): torn frames cannot pass. */
export function patternByte(frame: number, index: number): number {
  return (frame * 151 + index * 7 + (index >>> 11)) & 0xff;
}

export function fillPattern(frame: number, pixels: Uint8Array, firstIndex = 0): void {
  for (let i = 0; i < pixels.length; i++) pixels[i] = patternByte(frame, firstIndex + i);
}

/** Index of the first byte that does not match, or -1. */
export function firstMismatch(frame: number, pixels: Uint8Array, firstIndex = 0): number {
  for (let i = 0; i < pixels.length; i++) if (pixels[i] !== patternByte(frame, firstIndex + i)) return i;
  return -1;
}
