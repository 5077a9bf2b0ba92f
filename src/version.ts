/** This package's version, as in package.json and deno.json (test/install/metadata.test.ts keeps them equal). */
export const VERSION = '0.1.0';
