// uv-drain/vitest on a platform uv-drain does not run on: no checks, one
// warning per process, matchers that fail with the reason. With
// UV_DRAIN_REQUIRE=1 the setup file fails instead. Imports nothing that
// loads the addon.
import platform = require('../../install/platform.cjs');
import { UvDrainError } from '../errors';
import type { FileApi, VitestApi } from './file-checks';

const WARNED = Symbol.for('uv-drain.unsupported-warned');

export function unsupportedFile(expect: VitestApi['expect']): FileApi {
  const error = () => new UvDrainError(platform.ERROR_CODE, platform.unsupportedMessage());
  if (process.env.UV_DRAIN_REQUIRE === '1') throw error();
  const marks = globalThis as { [WARNED]?: boolean };
  if (!marks[WARNED]) {
    marks[WARNED] = true;
    process.emitWarning(`${platform.unsupportedMessage()} uv-drain/vitest checks nothing here (UV_DRAIN_REQUIRE=1 makes this an error).`, {
      code: platform.ERROR_CODE,
    });
  }
  const fail = () => {
    throw error();
  };
  expect.extend({ toHaveDrained: fail, toLeakHandles: fail });
  return { configureLeakCheck: () => {}, allowLeaks: () => {} };
}
