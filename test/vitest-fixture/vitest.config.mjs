// A small project that uses uv-drain/vitest the way a user's project does;
// test/vitest-integration.test.ts runs Vitest on it in a child process.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['*.spec.ts'],
    setupFiles: ['uv-drain/vitest'],
  },
});
