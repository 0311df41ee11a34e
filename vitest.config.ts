import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code (*.test.ts); kernel-touching integration tests live under
// test/integration/ and skip themselves when not run as root.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'cni/**/*.test.ts', 'proxy/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', '.tools/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
