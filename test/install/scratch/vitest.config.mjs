import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { setupFiles: ['uv-drain/vitest'], include: ['*.spec.mjs'] } });
