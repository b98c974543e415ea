// The curated catalog lists only what loads: every entry is loaded through the Hub path from a fake
// huggingface.co that serves exactly the file layout the entry's repository publishes (its `files`),
// filled with the tiny fixtures of ../shared in the same forms — safetensors + tokenizer.json, or,
// as OpenLLaMA 3B v2 ships, pytorch_model.bin + a SentencePiece tokenizer.model and nothing else.
// Files of the layout that loading must not need are served as garbage, so reading one fails.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { batches } from '../data/batch';
import { tokenizeTexts } from '../data/text';
import { Checkpoint } from '../model/checkpoint';
import { loadModel, type LoadedModel } from '../model/load';
import { hubSource } from '../model/hub-source';
import { Transformer } from '../net/transformer';
import { testContext } from '../test/gpu';
import { stateDictPickle, torchZip } from '../test/torch-zip';
import { evaluate } from '../train/trainer';
import { CATALOG } from './catalog';

const MODELS = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const read = (p: string) => new Uint8Array(readFileSync(MODELS + p));

/** tiny-llama-sp's F16 weights written as torch.save writes a state dict (HalfStorage per tensor). */
async function tinyLlamaBin(): Promise<Uint8Array> {
  const ck = await Checkpoint.open(dirSource(MODELS + 'tiny-llama-sp'));
  const specs = [];
  const storages: [string, Uint8Array][] = [];
  for (const [i, name] of ck.names().entries()) {
    const t = await ck.readRaw(name);
    expect(t.dtype).toBe('F16');
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    specs.push({ name, storageType: 'HalfStorage', key: String(i), numel: t.bytes.length / 2, offset: 0, shape: t.shape, stride });
    storages.push([String(i), t.bytes]);
  }
  return torchZip('pytorch_model', stateDictPickle(specs), storages);
}

/** The fixture files standing in for a repository of the given layout. */
async function fixtureFor(layout: readonly string[]): Promise<{ dir: string; files: Map<string, Uint8Array> }> {
  const files = new Map<string, Uint8Array>();
  const garbage = new TextEncoder().encode('not needed to load this layout');
  const fastTokenizer = layout.includes('tokenizer.json');
  const dir = fastTokenizer ? 'stories260K/' : 'tiny-llama-sp/';
  const have: Record<string, () => Promise<Uint8Array> | Uint8Array> = fastTokenizer
    ? {
        'config.json': () => read(dir + 'config.json'), 'tokenizer.json': () => read(dir + 'tokenizer.json'), 'tokenizer_config.json': () => read(dir + 'tokenizer_config.json'),
        'model.safetensors': () => read(dir + 'model.safetensors'), 'pytorch_model.bin': () => read('stories260K-bin/pytorch_model.bin'),
      }
    : {
        'config.json': () => read(dir + 'config.json'), 'tokenizer.model': () => read(dir + 'tokenizer.model'), 'tokenizer_config.json': () => read(dir + 'tokenizer_config.json'),
        'pytorch_model.bin': tinyLlamaBin,
        'special_tokens_map.json': () => new TextEncoder().encode(JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' })),
      };
  for (const f of layout) {
    if (f === 'generation_config.json') files.set(f, new TextEncoder().encode(JSON.stringify({ bos_token_id: 1, eos_token_id: 2 })));
    else files.set(f, have[f] ? await have[f]() : garbage);
  }
  return { dir, files };
}

/** huggingface.co/{repo}/resolve/main/{file}: HEAD, GET and Range requests over `files`; 404 for anything else. */
function fakeHub(repo: string, files: Map<string, Uint8Array>, asked: Set<string>): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const m = String(input).match(/^https:\/\/huggingface\.co\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/);
    const body = m && m[1] === repo ? files.get(decodeURIComponent(m[2])) : undefined;
    if (!body) return new Response(null, { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    const method = init?.method ?? 'GET';
    if (method === 'HEAD') return new Response(null, { status: 200, headers: { 'Content-Length': String(body.length) } });
    asked.add(decodeURIComponent(m![2]));
    const r = new Headers(init?.headers).get('range')?.match(/^bytes=(\d+)-(\d+)$/);
    if (!r) return new Response(body.slice(), { status: 200, headers: { 'Content-Length': String(body.length) } });
    const a = Number(r[1]);
    const b = Math.min(Number(r[2]), body.length - 1);
    return new Response(body.slice(a, b + 1), { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${body.length}`, 'Content-Length': String(b - a + 1) } });
  }) as typeof fetch;
}

async function evalLoss(m: LoadedModel): Promise<number> {
  const ctx = await testContext();
  const { examples } = tokenizeTexts(m.tokenizer, ['Once upon a time, there was a little cat.', 'The dog ran to the park.'], 32);
  const model = new Transformer(ctx, m.spec, m.weights, null, { B: 2, T: 32, training: false });
  return (await evaluate(ctx, model, batches(examples, 2, 32, 0))).loss;
}

describe('every catalog entry loads from its repository layout through the Hub path', () => {
  for (const entry of CATALOG) {
    it(`${entry.repo}: ${entry.files.filter((f) => /\.(bin|safetensors|model)$|^tokenizer\.json$/.test(f)).join(' + ')}`, async () => {
      const ctx = await testContext();
      const { dir, files } = await fixtureFor(entry.files);
      const asked = new Set<string>();
      const m = await loadModel(ctx, hubSource(entry.repo, { fetch: fakeHub(entry.repo, files, asked) }));
      // Same weights and tokenizer as the fixture folder read directly: the same loss.
      const direct = await loadModel(ctx, dirSource(MODELS + dir));
      const [viaHub, fromDisk] = [await evalLoss(m), await evalLoss(direct)];
      expect(Number.isFinite(viaHub)).toBe(true);
      expect(viaHub).toBeCloseTo(fromDisk, 6);
      expect(m.checkpoint.format).toBe(entry.files.includes('model.safetensors') ? 'safetensors' : 'pytorch');
      for (const f of asked) expect(new TextDecoder().decode(files.get(f)!)).not.toBe('not needed to load this layout');
    });
  }
});
