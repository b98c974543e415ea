// The browser's shader library: every shaders/*.wgsl bundled as text by Vite.
import { libraryFromFiles, type ShaderLibrary } from '../gpu/shaders';

const files = import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

export function browserShaderLibrary(): ShaderLibrary {
  return libraryFromFiles(files);
}
