// ES module entry: the same instance as the CommonJS entry (one loop state
// per thread, whichever way the package is loaded). Node finds the CommonJS
// entry's named exports statically (cjs-module-lexer reads what tsc emits).
import uvDrain from './index.js';

export * from './index.js';
export default uvDrain;
