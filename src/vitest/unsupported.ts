// uv-drain/vitest where uv-drain cannot run (a platform it does not support,
// a libuv whose layout its probe does not confirm): no checks, one warning
// per process, matchers that fail with the reason. With UV_DRAIN_REQUIRE=1
// the setup file fails instead.
import platform = require('../../install/platform.cjs');
import type { UvDrainError } from '../errors';
import type { FileApi, VitestApi } from './file-checks';

const CANNOT_RUN = new Set([platform.ERROR_CODE, 'UVD_ERR_LIBUV_LAYOUT']);
const WARNED = Symbol.for('uv-drain.cannot-run-warned');

/**
 * True for the errors that say uv-drain cannot run here (not for a bug). By
 * code: Vitest may evaluate this file and the one that threw in different
 * module instances, so instanceof cannot be relied on.
 */
export function cannotRun(err: unknown): err is UvDrainError {
  return err instanceof Error && CANNOT_RUN.has((err as { code?: unknown }).code as string);
}

export function unsupportedFile(expect: VitestApi['expect'], reason: UvDrainError): FileApi {
  if (process.env.UV_DRAIN_REQUIRE === '1') throw reason;
  const marks = globalThis as { [WARNED]?: boolean };
  if (!marks[WARNED]) {
    marks[WARNED] = true;
    process.emitWarning(`${reason.message} uv-drain/vitest checks nothing here (UV_DRAIN_REQUIRE=1 makes this an error).`, { code: reason.code });
  }
  const fail = () => {
    throw reason;
  };
  expect.extend({ toHaveDrained: fail, toLeakHandles: fail });
  return { configureLeakCheck: () => {}, allowLeaks: () => {} };
}
