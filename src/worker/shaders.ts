// The browser's shader library: every shaders/**/*.wgsl (kernels and their common/ includes)
// bundled as text by Vite, keyed by the path under shaders/.
import { libraryFromFiles, type ShaderLibrary } from '../gpu/shaders';

const files = import.meta.glob('../../shaders/**/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** The WGSL sources bundled by Vite, keyed by their path under shaders/ (e.g. "ops/matmul.wgsl"), as the GPU context includes them. */
export function browserShaderLibrary(): ShaderLibrary {
  const rel: Record<string, string> = {};
  for (const [path, src] of Object.entries(files)) rel[path.replace(/^(\.\.\/)+shaders\//, '')] = src;
  return libraryFromFiles(rel);
}
