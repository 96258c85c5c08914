// `npm run test:install`: the packed package installed into scratch projects
// (needs prebuilds/ for linux-x64 and linux-arm64: scripts/prebuild.sh).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/install/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
