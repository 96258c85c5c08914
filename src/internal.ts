// What uv-drain/vitest needs beyond the public API.
//
// Re-exported through this one CommonJS entry, never imported file by file:
// a test runner that evaluates the package's files itself (Vitest does for
// files outside node_modules) would make a second instance of a module
// that holds state, while this entry's require() calls reach Node's one.
export { bornOutsideScopes, leakCheckOf, reconfigure, type Accept } from './leaks';
export { currentScope, type Scope } from './scopes';
