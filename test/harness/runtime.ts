/** Which JavaScript runtime is executing this code (the library's own answer). */
export { currentRuntime as runningUnder, type Runtime } from '../../src/runtime.ts';
