import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The install tests need prebuilds and a packed tarball: `npm run test:install` (.ci/run).
    exclude: ['test/install/**', '**/node_modules/**'],
    // Every test runs inside uv-drain's own leak check (built into dist/ by `npm test`).
    setupFiles: ['./dist/vitest/index.mjs'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
