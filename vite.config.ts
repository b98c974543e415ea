import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import type { Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { contentSecurityPolicy } from './src/hosts.ts';

/** Puts the policy into the built index.html as a <meta http-equiv>, so a static host serves it too. */
function cspMeta(): Plugin {
  return {
    name: 'studio-csp-meta',
    apply: 'build',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: contentSecurityPolicy({ meta: true }) }, injectTo: 'head-prepend' },
    ],
  };
}

export default defineConfig(({ command }) => {
  // Dev only: Vite's client and @vitejs/plugin-react's react-refresh preamble are inline
  // <script>s. Vite writes `html.cspNonce` onto every script/style tag it serves (and into a
  // <meta property="csp-nonce"> its client uses for injected styles); the policy allows that
  // nonce, fresh each time the server starts, instead of 'unsafe-inline'. The build has no
  // inline scripts: `script-src 'self'` alone.
  const nonce = command === 'serve' ? randomBytes(18).toString('base64') : undefined;
  const devPolicy = contentSecurityPolicy(nonce ? { dev: { nonce } } : {});
  return {
    plugins: [react(), cspMeta()],
    html: nonce ? { cspNonce: nonce } : {},
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
    // The policy as an HTTP header on every response (the page and the worker's script: a
    // worker loaded from a URL gets its policy from its own response, not from the page).
    server: { port: 5173, strictPort: false, headers: { 'Content-Security-Policy': devPolicy } },
    preview: { headers: { 'Content-Security-Policy': contentSecurityPolicy() } },
    test: {
      include: ['src/**/*.test.ts'],
      environment: 'node',
      testTimeout: 600_000,
      hookTimeout: 600_000,
      // Each test file acquires its own GPU device. SwiftShader runs one file's work on about one
      // core (user time ~ wall time), so two files at once nearly halve the suite on a 2-core
      // machine (matmul-vec4 + matmul-quant: 180 s of tests in 100 s). Vitest's default would
      // leave one core idle there (cores - 1); more than 4 gains little and multiplies memory.
      fileParallelism: true,
      maxWorkers: Math.min(4, Math.max(2, availableParallelism())),
    },
  };
});
