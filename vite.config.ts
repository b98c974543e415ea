import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  server: { port: 5173, strictPort: false },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Each test file acquires its own GPU device; SwiftShader is CPU-bound, so run files one
    // after another rather than fighting over the two cores.
    fileParallelism: false,
  },
});
