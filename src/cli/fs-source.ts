// A model folder on the local disk (Node only): the ModelSource the CLI tools use.

import { statSync } from 'node:fs';
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkRange, ModelSourceError, normalizeModelPath, type ModelSource } from '../model/source';

/** A folder on disk. Throws ModelSourceError at once if the folder is missing; errors name the folder. */
export function dirSource(dir: string): ModelSource {
  const root = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    throw new ModelSourceError(`Model folder '${root}' does not exist; check the path (it should hold config.json, the *.safetensors or pytorch_model*.bin files and tokenizer.json).`);
  }
  if (!isDir) throw new ModelSourceError(`'${root}' is a file, not a folder; give the folder that holds config.json, the *.safetensors or pytorch_model*.bin files and tokenizer.json.`);

  const pathOf = (file: string) => join(root, normalizeModelPath(root, file));

  async function listing(): Promise<string> {
    try {
      const all = (await readdir(root)).sort();
      return all.length ? `it holds ${all.slice(0, 8).join(', ')}${all.length > 8 ? `, … (${all.length} entries)` : ''}` : 'it is empty';
    } catch {
      return 'it cannot be listed';
    }
  }

  async function fail(file: string, e: unknown): Promise<never> {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      throw new ModelSourceError(`${root}: file '${file}' not found in the model folder (${await listing()}).`);
    }
    throw new ModelSourceError(`${root}: cannot read '${file}': ${(e as Error)?.message ?? String(e)}.`);
  }

  return {
    name: root,
    async has(file) {
      try {
        return (await stat(pathOf(file))).isFile();
      } catch (e) {
        if (e instanceof ModelSourceError) throw e;
        return false;
      }
    },
    async text(file) {
      const p = pathOf(file);
      try {
        return await readFile(p, 'utf8');
      } catch (e) {
        return fail(file, e);
      }
    },
    async size(file) {
      const p = pathOf(file);
      let st;
      try {
        st = await stat(p);
      } catch (e) {
        return fail(file, e);
      }
      if (!st.isFile()) return fail(file, Object.assign(new Error('not a file'), { code: 'EISDIR' }));
      return st.size;
    },
    async range(file, begin, end) {
      const p = pathOf(file);
      checkRange(root, file, begin, end);
      let fh;
      try {
        fh = await open(p, 'r');
      } catch (e) {
        return fail(file, e);
      }
      try {
        const size = (await fh.stat()).size;
        checkRange(root, file, begin, end, size);
        const out = new Uint8Array(end - begin);
        let got = 0;
        while (got < out.length) {
          const { bytesRead } = await fh.read(out, got, out.length - got, begin + got);
          if (bytesRead === 0) throw new ModelSourceError(`${root}: '${file}' ended early (the file changed while it was read); reload the model.`);
          got += bytesRead;
        }
        return out;
      } catch (e) {
        if (e instanceof ModelSourceError) throw e;
        return fail(file, e);
      } finally {
        await fh.close();
      }
    },
  };
}
