import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  // Pre-bundle every browser dependency up front (the worker's too): otherwise the dev server
  // discovers some on first use and reloads the page under whoever is using it.
  optimizeDeps: {
    entries: ['index.html', 'src/worker/engine.worker.ts'],
    include: [
      'react', 'react-dom/client', 'react/jsx-runtime', 'react/jsx-dev-runtime', 'zustand', 'recharts', 'idb-keyval', 'fflate',
      '@huggingface/tokenizers', '@huggingface/jinja', 'papaparse', 'hyparquet', 'protobufjs/light',
    ],
  },
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
