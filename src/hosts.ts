// The one list of network origins the studio may contact, besides its own: the Hugging Face Hub's
// hosts that serve models and datasets. vite.config.ts builds the Content-Security-Policy from
// it (so the browser refuses any other connection), the Hub code builds its URLs from it, and a
// test checks that the README names exactly these hosts. Plain data: importable from Node
// (vite.config.ts), the engine and the page alike.

/** The Hub: model and dataset files (`/resolve/...`), repo pages. */
export const HUB_ENDPOINT = 'https://huggingface.co';

/** The Hub's dataset viewer API (lists a dataset's Parquet export). */
export const DATASETS_SERVER = 'https://datasets-server.huggingface.co';

/**
 * Every origin (CSP source expression) the page and its worker may connect to besides their own.
 * `/resolve/` URLs redirect to CDN and storage hosts under these domains (today
 * cdn-lfs.huggingface.co, cdn-lfs-us-1.hf.co, cas-bridge.xethub.hf.co, us.aws.cdn.hf.co); a CSP
 * applies to every hop of a redirect, so the wildcards are needed. `*.huggingface.co` also
 * covers DATASETS_SERVER, which is listed on its own for the reader.
 */
export const HUB_CONNECT_SOURCES: readonly string[] = [HUB_ENDPOINT, 'https://*.huggingface.co', 'https://*.hf.co', DATASETS_SERVER];

/** Options of the Content-Security-Policy (see contentSecurityPolicy). */
interface CspOptions {
  /** The dev server: its HMR websocket, and a per-start nonce for the inline scripts Vite and @vitejs/plugin-react inject. */
  dev?: { nonce: string };
  /** For a `<meta http-equiv>` copy: leaves out directives a meta policy ignores (frame-ancestors). */
  meta?: boolean;
}

/**
 * The studio's Content-Security-Policy: scripts and workers only from its own origin (workers also
 * from blob:), network connections only to its own origin and HUB_CONNECT_SOURCES, no plugins,
 * no framing. In dev the inline preamble scripts carry the nonce, and the HMR websocket is allowed.
 */
export function contentSecurityPolicy(opts: CspOptions = {}): string {
  const nonce = opts.dev ? ` 'nonce-${opts.dev.nonce}'` : '';
  const directives = [
    "default-src 'self'",
    `script-src 'self'${nonce}`,
    "worker-src 'self' blob:",
    `connect-src 'self' ${HUB_CONNECT_SOURCES.join(' ')}${opts.dev ? ' ws://localhost:* ws://127.0.0.1:*' : ''}`,
    `style-src 'self'${nonce}`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
  ];
  if (!opts.meta) directives.push("frame-ancestors 'none'");
  return directives.join('; ');
}
